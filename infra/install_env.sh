#!/usr/bin/env bash
# Create one component env (.venvs/<name>) from its lock with uv, then install this project into it (no deps).
set -euo pipefail
name="$1"
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
  echo ">> installing uv (pip --user)"
  python3 -m pip install --quiet --user "uv==0.13.9" || python3 -m pip install --quiet "uv==0.13.9"
  export PATH="$HOME/.local/bin:$PATH"
fi
py="${MOVIEREC_PYTHON:-3.11}"
echo ">> env '$name': uv venv + sync locks/$name.txt (python $py)"
[ -x ".venvs/$name/bin/python" ] || uv venv --quiet --python "$py" ".venvs/$name"
VIRTUAL_ENV=".venvs/$name" uv pip sync --quiet --compile-bytecode "locks/$name.txt"
VIRTUAL_ENV=".venvs/$name" uv pip install --quiet --no-deps -e .
touch ".venvs/$name/.installed"
echo ">> env '$name' ready: .venvs/$name/bin/python"
