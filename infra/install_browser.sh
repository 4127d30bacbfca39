#!/usr/bin/env bash
# The browser tests drive Debian's chromium (playwright cannot download its own browser offline).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo ">> installing Debian chromium for the browser tests"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
