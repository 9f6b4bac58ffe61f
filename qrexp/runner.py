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

from .config import from_hydra
from .hydra_files import register_resolvers, save_job_files
from .redact import install_log_redaction, redact_console

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")   # the repo's conf/ (editable install)
register_resolvers()                                            # ${qrexp_launch:} in conf/config.yaml


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    install_log_redaction()           # also in jobs that launchers (submitit) run in other processes
    save_job_files(cfg)               # Hydra's .hydra/*.yaml, redacted (before the config is checked)
    from .experiment import run_experiment
    run_experiment(from_hydra(cfg))


def main() -> None:
    """``qrexp``: console and log lines pass through qrexp.redact (no credential is ever shown)."""
    redact_console()
    install_log_redaction()
    _hydra_main()


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
