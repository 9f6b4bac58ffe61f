"""``qrexp view`` / ``stage=view`` at the Hydra edge: compose each experiment config found among
the runs (for its report tables), then build the viewer from the typed configs."""
from __future__ import annotations

from pathlib import Path

from qrexp.experiment.config import RunConfig, from_hydra
from qrexp.runs.table import load_runs


def experiment_options() -> tuple[list[str], list[str]]:
    """(every ``experiment=`` option in conf/ and the file:// search path, compose overrides that
    keep that search path). Hydra must be initialised, as inside ``@hydra.main``."""
    from hydra.core.hydra_config import HydraConfig
    from qrexp.experiment.cli import CONF_DIR
    extra = [str(p) for p in HydraConfig.get().searchpath]
    roots = [Path(CONF_DIR)] + [Path(p[len("file://"):]) for p in extra if p.startswith("file://")]
    options = {str(f.relative_to(root / "experiment").with_suffix("")) for root in roots
               for f in (root / "experiment").rglob("*.yaml")}
    keep = [f"hydra.searchpath=[{','.join(extra)}]"] if extra else []
    return sorted(options), keep


def experiment_configs(names: set[str], log=print) -> dict[str, RunConfig]:
    """{experiment name: RunConfig} for every ``experiment=`` option whose ``name`` is in
    ``names``; options that do not compose on their own are skipped with a log line."""
    from hydra import compose
    options, keep = experiment_options()
    found: dict[str, RunConfig] = {}
    for option in options:
        try:
            cfg = from_hydra(compose("config", overrides=[*keep, f"experiment={option}"]))
        except Exception as err:  # noqa: BLE001 - a broken option must not stop the viewer
            log(f"[view] experiment={option} skipped ({type(err).__name__}: {str(err)[:120]})")
            continue
        if cfg.name in names and cfg.name not in found:
            found[cfg.name] = cfg
    return found


def view_from_hydra(cfg) -> str:
    """Build the viewer for a composed (Hydra) config; returns the index path."""
    from qrexp.experiment.stages import store_of
    from qrexp.experiment.view.build import build_view
    run_cfg = from_hydra(cfg)
    runs = load_runs(store_of(run_cfg).root)
    names = {n for used in runs.get("used_by", []) for n in used}
    return str(build_view(run_cfg, experiment_configs(names - {run_cfg.name}), print))
