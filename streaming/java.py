"""Java discovery for the Flink mini-cluster (PyFlink starts a JVM and needs JAVA_HOME)."""

from __future__ import annotations

import shutil
from pathlib import Path


def java_home() -> str:
    """JAVA_HOME derived from the `java` on PATH (OpenJDK 17)."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found on PATH (Flink needs OpenJDK 17)")
    return str(Path(java).resolve().parent.parent)
