"""Movie recommender library: data, validation, features, models, metrics, training, registry, feedback.

Kept import-light on purpose: Airflow and Flink envs import `pipelines.settings` and `pipelines.events`
without TensorFlow or MLflow installed.
"""
