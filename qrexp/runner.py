"""The command line: Hydra composes conf/ into a RunConfig, then the library runs it.

    qrexp                                   # experiment=demo on the embedded SmolLM2
    qrexp experiment=paper/table2 model=llama3.1-8b
    qrexp -m heads=detected,full,random eval=generated_beir
    qrexp stage=report
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig


CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")   # the repo's conf/ (editable install)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from .hydra_summary import run_job
    run_job(cfg)


def main() -> None:
    """``qrexp list [what]`` (qrexp.listing), else a Hydra run or sweep; a sweep ends with its summary."""
    if len(sys.argv) > 1 and sys.argv[1] == "list":
        from .listing import main as list_main
        list_main(sys.argv[2:])
        return
    from .hydra_summary import print_sweep_summary
    try:
        _hydra_main()
    finally:
        print_sweep_summary()


def detect_main() -> None:
    sys.argv.insert(1, "stage=detect")
    main()


def evaluate_main() -> None:
    sys.argv.insert(1, "stage=evaluate")
    main()


def report_main() -> None:
    sys.argv.insert(1, "stage=report")
    main()


if __name__ == "__main__":
    main()
