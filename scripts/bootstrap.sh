#!/usr/bin/env bash
# Install what switchover needs on a fresh machine: redis-server (Debian package) and a
# virtual environment with the package and its development tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server for the demo and the tests; chromium for the dashboard's browser tests (driven
# by the playwright package, whose own browser download is not used).
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ "${SWITCHOVER_NO_BROWSER:-}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  missing="$missing chromium"
fi
if [ -n "$missing" ]; then
  echo "bootstrap: installing$missing (Debian packages)…"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv…"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing switchover and its tools into .venv…"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import switchover, pytest, mypy, ruff" 
  touch "$stamp"
fi
