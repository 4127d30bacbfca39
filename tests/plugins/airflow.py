"""Shared airflow fixtures (a pytest plugin; registered in tests/conftest.py)."""
