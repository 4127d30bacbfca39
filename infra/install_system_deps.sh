#!/usr/bin/env bash
# System packages the tests use: Debian's chromium (browser tests; playwright cannot download its own
# browser offline) and docker-compose (a real parser to validate docker-compose.yml; no engine needed).
#   bash infra/install_system_deps.sh          install what is missing (apt-get; root or sudo)  = make system-deps
#   bash infra/install_system_deps.sh --check  only say what is missing and how to get it        (make test)
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--check" ]; then
  echo "missing system packages: ${missing[*]} (browser and compose tests need them)" >&2
  echo "install them with: make system-deps   (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo ">> installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
