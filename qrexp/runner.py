"""The command line: Hydra composes conf/ into a RunConfig, then the library runs it.

    qrexp                                   # experiment=demo on the embedded SmolLM2
    qrexp experiment=paper/table2 model=llama3.1-8b
    qrexp -m heads=detected,full,random eval=generated_beir
    qrexp stage=report
    qrexp view                              # the HTML results viewer: <out_dir>/view/index.html
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from .config import from_hydra

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")   # the repo's conf/ (editable install)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _main(cfg: DictConfig) -> None:
    if cfg.stage == "view":                      # needs Hydra to find other experiments' tables
        from .view.cli import view_from_hydra
        view_from_hydra(cfg)
        return
    from .experiment import run_experiment
    run_experiment(from_hydra(cfg))


def main() -> None:
    """``qrexp [overrides]``; ``qrexp view [overrides]`` is ``qrexp stage=view [overrides]``."""
    if sys.argv[1:2] == ["view"]:
        sys.argv[1] = "stage=view"
    _main()


def detect_main() -> None:
    sys.argv.insert(1, "stage=detect")
    main()


def evaluate_main() -> None:
    sys.argv.insert(1, "stage=evaluate")
    main()


def report_main() -> None:
    sys.argv.insert(1, "stage=report")
    main()


def view_main() -> None:
    sys.argv.insert(1, "stage=view")
    main()


if __name__ == "__main__":
    main()
