"""The Hydra structured schema (qrexp.experiment.schema): registered in the ConfigStore, its defaults
are the dataclass defaults, types are checked when Hydra composes (YAML and overrides) with errors
naming the key, and the YAML files state only what differs from the defaults."""
import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf

from qrexp.experiment.compose import compose_config
from qrexp.experiment.config import (DetectConfig, EvalConfig, HeadsConfig, LoggerConfig, ModelConfig,
                                     ReportConfig, RunConfig, to_dict)
from qrexp.experiment.config_check import build
from qrexp.experiment.schema import check_command_line, schema_of
from qrexp.io.package_data import package_data
from qrexp.types import ConfigError

CONF = Path(__file__).resolve().parents[3] / "conf"
GROUPS = {"model": ModelConfig, "detect": DetectConfig, "heads": HeadsConfig, "eval": EvalConfig,
          "logger": LoggerConfig, "report": ReportConfig}
# the one field that names what a group option is; stated even where it equals the default
IDENTITY = {"model": {"path"}, "heads": {"source"}, "logger": {"kind"}, "eval": {"kind"}, "detect": set(),
            "report": set()}


def _raw_compose(*overrides, conf=CONF):
    """Hydra's own composition, without qrexp's override checks or conversion."""
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        return compose("config", overrides=list(overrides))


def test_schema_is_registered_and_its_defaults_are_the_dataclass_defaults():
    repo = ConfigStore.instance().repo
    assert "qrexp_schema.yaml" in repo
    assert {f"qrexp_schema_{g}.yaml" for g in GROUPS} <= set(repo)
    schema = OmegaConf.structured(schema_of(RunConfig))
    assert OmegaConf.is_missing(schema.model, "path")          # model YAMLs name their path
    plain = OmegaConf.to_container(schema)
    plain["model"]["path"] = "smollm2-135m"
    assert to_dict(build(RunConfig, plain)) == to_dict(RunConfig())
    for group, cls in GROUPS.items():
        if group != "model":
            assert build(cls, OmegaConf.to_container(OmegaConf.structured(schema_of(cls)))) == cls()


def test_composed_nodes_are_typed_wherever_a_group_lands():
    cfg = _raw_compose("experiment=demo")
    assert OmegaConf.get_type(cfg.model) is schema_of(ModelConfig)
    assert OmegaConf.get_type(cfg.suite.lme) is schema_of(EvalConfig)             # /eval@suite.lme
    assert OmegaConf.get_type(cfg.suite.beir.detect) is schema_of(DetectConfig)   # /detect@...detect
    assert cfg.suite.lme.qa.overflow == "error"               # a default the YAML does not state
    # launchers (submitit, joblib) pickle the composed config; a fresh process reads it back
    code = "import pickle, sys; c = pickle.load(sys.stdin.buffer); print(c.suite.beir.detect.objective)"
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(cfg), capture_output=True,
                         cwd=CONF.parent, env={**os.environ, "PYTHONPATH": str(CONF.parent)}, timeout=300)
    assert out.returncode == 0 and out.stdout.decode().strip() == "ndcg10", out.stderr[-2000:]


@pytest.mark.parametrize("override,key", [("model.k=sixteen", "model.k"), ("eval.qa=true", "eval.qa"),
                                          ("scoring.mask_sigma=two", "scoring.mask_sigma"),
                                          ("foo=1", "foo")])
def test_hydra_itself_refuses_a_wrong_type_at_compose(override, key):
    with pytest.raises(HydraException) as err:
        _raw_compose(override)
    assert err.value.__cause__.full_key == key


def _bad_conf(tmp_path, group, name, text):
    (tmp_path / group).mkdir(parents=True, exist_ok=True)
    (tmp_path / group / f"{name}.yaml").write_text(text)
    return f"hydra.searchpath=[file://{tmp_path}]"


@pytest.mark.parametrize("group,text,message", [
    ("model", "path: org/x\nk: sixteen\n",
     "config model.k='sixteen': expected an integer, got a string (in model/bad.yaml)"),
    ("model", "path: org/x\nkk: 3\n", "config model.kk: unknown key (allowed in model: device, device_map, "),
    ("eval", "methods: bm25\n", "config eval.methods='bm25': expected a list; write [bm25] (in eval/bad.yaml)"),
    ("eval", "qa: {top_k: [3, x]}\n",
     "config eval.qa.top_k[1]='x': expected an integer, got a string (in eval/bad.yaml)"),
])
def test_a_wrong_type_in_a_yaml_fails_at_compose_naming_the_key(tmp_path, group, text, message):
    search = _bad_conf(tmp_path, group, "bad", text)
    with pytest.raises(HydraException):
        _raw_compose(search, f"{group}=bad")
    with pytest.raises(ConfigError) as err:
        compose_config([search, f"{group}=bad"], conf_dir=CONF)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_overrides_are_checked_and_promoted_before_hydra():
    argv = ["-m", "-cn", "config", "eval.methods=bm25,icr", "eval.ks=5", "model=tiny", "hydra.verbose=true",
            "eval.methods=[bm25],[icr]", "scoring.calibrate=true,false", "eval.data.args.order=bm25"]
    assert check_command_line(RunConfig, argv) == [
        "-m", "-cn", "config", "eval.methods=[bm25],[icr]", "eval.ks=[5]", "model=tiny", "hydra.verbose=true",
        "eval.methods=[bm25],[icr]", "scoring.calibrate=true,false", "eval.data.args.order=bm25"]
    with pytest.raises(ConfigError, match=r"^config scoring.calibrate='no': expected true or false"):
        check_command_line(RunConfig, ["-m", "scoring.calibrate=true,no"])        # every sweep choice
    with pytest.raises(ConfigError, match=r"^config suite.lme.qa.foo: unknown key \(allowed in suite.lme.qa: "):
        check_command_line(RunConfig, ["+suite.lme.qa.foo=1"])


def _declared_defaults(cls) -> dict:
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)}


def _stated_defaults(cls, data: dict, where: str) -> list[str]:
    """Keys of YAML mapping ``data`` (recursively) whose value equals the declared default of ``cls``."""
    out, defaults = [], _declared_defaults(cls)
    for key, value in data.items():
        if key not in defaults:
            continue                                     # defaults list, hydra: not fields
        default = defaults[key]
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            out += _stated_defaults(type(default), value, f"{where}.{key}")
        elif (list(default) if isinstance(default, tuple) else default) == value:
            out.append(f"{where}.{key}")
    return out


def test_yaml_files_state_only_what_differs_from_the_defaults():
    stated = []
    for group, cls in GROUPS.items():
        for path in sorted((CONF / group).rglob("*.yaml")):
            data = yaml.safe_load(path.read_text()) or {}
            name = f"{group}/{path.stem}"
            stated += [k for k in _stated_defaults(cls, data, name) if k.split(".", 1)[1] not in IDENTITY[group]]
    root = yaml.safe_load((CONF / "config.yaml").read_text())
    stated += _stated_defaults(RunConfig, root, "config")
    assert stated == [], stated


def test_config_tree_is_read_from_package_data():
    assert (package_data("conf") / "config.yaml").read_bytes() == (CONF / "config.yaml").read_bytes()
    assert compose_config(["experiment=demo"]).name == "demo"
