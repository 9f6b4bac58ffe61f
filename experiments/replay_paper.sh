#!/usr/bin/env bash
# Every paper table in turn (GPU + downloaded data; finished runs are skipped on a rerun).
set -euo pipefail
cd "$(dirname "$0")"
for t in 1 2 3 5 6 8; do ./table$t.sh "$@"; done
