"""Rehearse a paper table on tiny real-format data before the real GPU run (qrexp.experiment.rehearsal).

    python experiments/rehearse.py table2 [--model smollm2-135m] [--out results/rehearsal] [extra overrides]

Writes the data under <out>/data, runs `qrexp experiment=paper/<table>` over it with the table's own
methods, detection and report (table 5: one run per detection choice), and the report writes the
table under <out>/tables. Table 8 asks for 256 heads: the model needs at least that many.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from qrexp.experiment.rehearsal import TABLES, rehearsal_jobs, write_rehearsal_data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", choices=TABLES)
    ap.add_argument("--model", default="smollm2-135m", help="model config name (conf/model)")
    ap.add_argument("--out", default="results/rehearsal", help="out_dir of the rehearsal (data, runs, tables)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides (e.g. model.path=... for model=tiny)")
    args, extra = ap.parse_known_args()
    out = Path(args.out).resolve()
    data = write_rehearsal_data(out / "data")
    jobs = rehearsal_jobs(args.table, data, [f"model={args.model}", *args.overrides, *extra])
    multirun = ["-m"] if args.table in ("table6", "table8") else []      # the table's own sweep
    for overrides in jobs:                  # table5: one run per detection choice (SWEPT_GROUPS)
        cmd = [sys.executable, "-m", "qrexp.experiment.cli", *multirun, *overrides, f"out_dir={out}"]
        print(" ".join(cmd), flush=True)
        code = subprocess.run(cmd).returncode
        if code:
            return code
    return 0

if __name__ == "__main__":
    sys.exit(main())
