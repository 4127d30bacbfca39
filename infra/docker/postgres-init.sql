-- One server, one database per concern: Airflow metadata, MLflow backend, click feedback.
CREATE DATABASE airflow;
CREATE DATABASE mlflow;
CREATE DATABASE feedback;
