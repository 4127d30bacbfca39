"""The BentoML 1.4 service: `bentoml serve serving.service:MovieRecommender` (127.0.0.1:3000 by default).

Thin on purpose: `__init__` builds a ServingRuntime (champion from the MLflow registry, Kafka producer,
recent-clicks follower, hot-swap watcher) and hands it to the mounted FastAPI app (serving/api.py), which
owns the routes that need path parameters and exact status codes. `POST /recommend` is the BentoML-native
form of the recommendations endpoint. BentoML itself serves /healthz, /livez, /readyz, /metrics, /docs.json.
"""

from __future__ import annotations

import logging
from typing import Annotated

import bentoml
from pydantic import Field
from starlette.exceptions import HTTPException

from pipelines.events import MAX_ID
from pipelines.settings import get_settings
from serving.api import RequestGuard
from serving.api import app as http_app
from serving.hot_paths import BENTOML_CONFIG, install_route_labelled_metrics
from serving.recommendations import NoChampion, UnknownGenres, recommendations_for
from serving.runtime import ServingRuntime
from serving.schemas import MAX_K, RecommendationsOut

log = logging.getLogger("serving")
_settings = get_settings()
install_route_labelled_metrics()  # before BentoML builds the app: one metric series per route, not per user id


@bentoml.service(
    name="movierec",
    workers=_settings.serving_workers,
    http={"host": _settings.serving_host, "port": _settings.serving_port},
    traffic={"timeout": 30},
    **BENTOML_CONFIG,  # the hot paths: no access log line or span per request (serving/hot_paths.py)
)
@bentoml.asgi_app(http_app, path="/")
class MovieRecommender:
    """Movie recommendations from the MLflow champion, click events to Kafka, hot-swap on promotion."""

    def __init__(self) -> None:
        self.runtime = ServingRuntime.start(get_settings())
        http_app.state.runtime = self.runtime
        champ = self.runtime.holder.current
        log.info(
            "serving ready: champion %s",
            "none yet" if champ is None else f"{champ.model_name} v{champ.version}",
        )

    def __is_ready__(self) -> bool:
        """BentoML's /readyz: 503 with the reasons while no champion is loaded or the broker is unreachable."""
        ready, reasons = self.runtime.readiness()
        if not ready:
            raise HTTPException(503, "not ready: " + "; ".join(reasons))
        return True

    @bentoml.api(route="/recommend")
    def recommendations_post(
        self,
        user_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None,
        k: Annotated[int, Field(ge=1, le=MAX_K)] = 10,
        genres: Annotated[list[str] | None, Field(max_length=20)] = None,
    ) -> RecommendationsOut:
        """POST form of GET /recommendations/{user_id}: `{"user_id": 1, "k": 10}`; user_id null = anonymous."""
        try:
            return recommendations_for(self.runtime, user_id, k, genres)
        except NoChampion as exc:
            raise bentoml.exceptions.ServiceUnavailable(str(exc)) from None
        except UnknownGenres as exc:
            raise bentoml.exceptions.InvalidArgument(str(exc)) from None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.runtime.stop()


MovieRecommender.add_asgi_middleware(RequestGuard)
