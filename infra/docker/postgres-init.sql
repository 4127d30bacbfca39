-- One server, one database per concern: Airflow metadata, MLflow backend (+ its basic-auth users), click feedback.
-- The Airflow, MLflow and feedback names are the cluster profile's (infra/cluster/postgres.py).
CREATE DATABASE movierec_airflow;
CREATE DATABASE movierec_mlflow;
CREATE DATABASE movierec_mlflow_auth;
CREATE DATABASE movierec_feedback;
