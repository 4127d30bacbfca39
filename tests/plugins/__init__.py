"""Pytest plugin modules: fixtures shared across test folders (registered in tests/conftest.py)."""
