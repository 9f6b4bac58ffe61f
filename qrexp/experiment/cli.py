"""The command line: Hydra composes conf/ into a RunConfig, then the library runs it.

    qrexp                                   # experiment=demo on the embedded SmolLM2
    qrexp experiment=paper/table2 model=llama3.1-8b
    qrexp -m heads=detected,full,random eval=generated_beir
    qrexp stage=report
    qrexp list [models|data|methods|measures|experiments|tables]   # what exists, one line each
    qrexp view                              # the HTML results viewer: <out_dir>/view/index.html

Bad config or data (qrexp.experiment.config_check.ConfigError, qrexp.experiment.preflight.InputError) is reported in one
line on stderr, ``qrexp: error: ...``, before any work, with exit status 2; ``QREXP_DEBUG=1`` raises
it with its traceback instead. Ctrl-C prints one line saying how to resume (exit status 130). In a sweep (-m) such a job is reported and the other jobs still run;
the exit status is 2 at the end (a job in another process, e.g. under submitit, fails with the
error so the launcher records it). Tracebacks are kept for real bugs. A sweep ends with its summary
table and count of runs done / reused / failed (qrexp.experiment.hydra_summary).
"""
from __future__ import annotations

import difflib
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from qrexp.experiment.compose import check_group_options, command_line_overrides
from qrexp.experiment.hydra_files import CONF_DIR, register_resolvers, save_job_files
from qrexp.experiment.hydra_summary import print_sweep_summary, run_job
from qrexp.experiment.listing import main as list_main
from qrexp.experiment.preflight import InputError, one_line
from qrexp.experiment.view.cli import view_from_hydra
from qrexp.io.redact import install_log_redaction, redact_console
from qrexp.types import ConfigError

__all__ = ["CONF_DIR", "main"]
register_resolvers()                                            # ${qrexp_launch:} in conf/config.yaml
SUBCOMMANDS = ("list", "view")
INTERRUPTED = ("qrexp: interrupted; finished runs are kept and so are the finished queries of the "
               "interrupted run (its partial/ journals): run the same command again to resume")
_rejected: list[str] = []                                         # bad-input jobs of this sweep
_main_pid: int | None = None          # the process of main(); a launcher may pickle these globals by value


def _multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    install_log_redaction()           # also in jobs that launchers (submitit) run in other processes
    save_job_files(cfg)               # Hydra's .hydra/*.yaml, redacted (before the config is checked)
    try:
        if cfg.get("stage") == "view":          # Hydra composes the other experiments for their tables
            view_from_hydra(cfg)
        else:
            run_job(cfg)                        # from_hydra + run_experiment; sweep jobs record their outcome
    except (ConfigError, InputError) as exc:
        if os.environ.get("QREXP_DEBUG", "") not in ("", "0"):
            raise
        print(f"qrexp: error: {one_line(exc)}", file=sys.stderr, flush=True)
        if not _multirun():
            sys.exit(2)
        if _main_pid != os.getpid():    # a launcher's worker process (submitit): the job must fail there
            raise
        _rejected.append(one_line(exc))


def main() -> None:
    """``qrexp list [what]`` (qrexp.experiment.listing); ``qrexp view [overrides]`` is ``qrexp stage=view
    [overrides]``; else a Hydra run or sweep; a sweep ends with its summary. Console and log lines
    pass through qrexp.io.redact (no credential is ever shown)."""
    global _main_pid
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    if first and first not in SUBCOMMANDS and not first.startswith(("-", "+", "~")) and "=" not in first:
        hint = difflib.get_close_matches(first, SUBCOMMANDS, n=1)
        print(f"qrexp: error: unknown command {first!r}"
              f"{f'; did you mean {hint[0]!r}?' if hint else ''} (commands: {', '.join(SUBCOMMANDS)}; "
              "anything else is a Hydra override key=value)", file=sys.stderr, flush=True)
        sys.exit(2)
    if first == "list":
        list_main(sys.argv[2:])
        return
    _main_pid = os.getpid()
    if sys.argv[1:2] == ["view"]:
        sys.argv[1] = "stage=view"
    redact_console()
    install_log_redaction()
    try:                                  # qrexp's strict types before Hydra composes (experiment.schema)
        sys.argv[1:] = command_line_overrides(sys.argv[1:])
        check_group_options(sys.argv[1:], CONF_DIR)      # an unknown option: one line, not Hydra's listing
    except ConfigError as exc:
        if os.environ.get("QREXP_DEBUG", "") not in ("", "0"):
            raise
        print(f"qrexp: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    try:
        _hydra_main()
    except KeyboardInterrupt:            # Ctrl-C: one line, not Python's traceback (QREXP_DEBUG keeps it)
        if os.environ.get("QREXP_DEBUG", "") not in ("", "0"):
            raise
        print(INTERRUPTED, file=sys.stderr, flush=True)
        sys.exit(130)
    finally:
        print_sweep_summary()          # also when a job failed (Hydra's sweeper raises before its end hook)
    if _rejected:
        print(f"qrexp: {len(_rejected)} sweep job(s) stopped on bad input (errors above)",
              file=sys.stderr, flush=True)
        sys.exit(2)


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
