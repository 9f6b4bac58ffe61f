#!/usr/bin/env bash
# Paper Table 2: runs conf/experiment/paper/table2.yaml (see its header for the data it needs).
# Rehearse it first on tiny real-format data (CPU, minutes): python experiments/rehearse.py table2
# Extra Hydra overrides pass through, e.g. model=qwen2.5-7b heads=detected data_dir=/data/qrhead
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/qrexp experiment=paper/table2 "$@"
