# ML env image: pipelines + serving + MLflow server (same locks as local: locks/ml.txt).
FROM python:3.11-slim-bookworm
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY locks/ml.txt locks/ml.txt
RUN uv venv /opt/venvs/ml && VIRTUAL_ENV=/opt/venvs/ml uv pip sync --no-cache locks/ml.txt
COPY pyproject.toml README.md ./
COPY pipelines pipelines
COPY serving serving
COPY streaming streaming
COPY infra infra
RUN VIRTUAL_ENV=/opt/venvs/ml uv pip install --no-cache --no-deps .
ENV PATH=/opt/venvs/ml/bin:$PATH \
    MOVIEREC_VENVS_DIR=/opt/venvs \
    MOVIEREC_VAR_DIR=/var/movierec \
    MLFLOW_DISABLE_TELEMETRY=true BENTOML_DO_NOT_TRACK=true GX_ANALYTICS_ENABLED=false DO_NOT_TRACK=true
