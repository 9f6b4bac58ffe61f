"""conf/hydra/launcher: the SLURM option renders an sbatch file that requeues preempted jobs and
signals before the time limit; the local option composes to submitit's local executor."""
import os
import stat
from pathlib import Path

import submitit
from hydra import compose, initialize_config_dir
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]


def _launcher(option, *overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("config", overrides=[f"hydra/launcher={option}", *overrides], return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=False)


def test_slurm_option_requeues_and_signals(tmp_path, monkeypatch):
    params = _launcher("slurm", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=600")
    assert params["_target_"].endswith("SlurmLauncher") and params["max_num_timeout"] == 5
    srun = tmp_path / "bin" / "srun"                   # submitit only checks that srun exists
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{srun.parent}{os.pathsep}{os.environ['PATH']}")
    # the launcher's own translation of its config into executor parameters (BaseSubmititLauncher.launch)
    executor = submitit.AutoExecutor(folder=tmp_path / "sub", cluster="slurm",
                                     slurm_max_num_timeout=params["max_num_timeout"])
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()
                                  if k not in ("submitit_folder", "max_num_timeout", "_target_")})
    sbatch = executor._executor._make_submission_file_text("python -m qrexp", "uid")
    for line in ("#SBATCH --requeue", "#SBATCH --signal=USR2@300", "#SBATCH --partition=gpu",
                 "#SBATCH --time=600", "#SBATCH --gpus-per-node=1", "#SBATCH --mem=64GB"):
        assert line in sbatch.splitlines(), (line, sbatch)


def test_local_option_is_submitits_local_executor():
    params = _launcher("local")
    assert params["_target_"].endswith("LocalLauncher") and params["tasks_per_node"] == 1
