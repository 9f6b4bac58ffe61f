"""Model labels come from what is loaded (issue 9, section 2): derived from model.path, and a
model.name or published_key that contradicts the path is a one-line error when the config is built."""
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import ModelConfig, RunConfig, from_hydra
from qrexp.engine.model_names import KNOWN_MODELS, derive_name, resolve_name
from qrexp.experiment.stages import detection_id, model_label

CONF = Path(__file__).resolve().parents[2] / "conf"


def _compose(*overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return from_hydra(compose("config", overrides=list(overrides)))


@pytest.mark.parametrize("path,gguf,name", [
    ("smollm2-135m", None, "smollm2-135m"),
    ("meta-llama/Llama-3.1-8B-Instruct", None, "llama3.1-8b"),
    ("meta-llama/llama-3.1-8b-instruct", None, "llama3.1-8b"),     # hub ids are case-insensitive
    ("Qwen/Qwen2.5-0.5B-Instruct", None, "qwen2.5-0.5b-instruct"),
    ("/models/My-Finetune/", None, "my-finetune"),
    ("/models/SmolLM2-360M.Q8_0.gguf", None, "smollm2-360m.q8_0"),
    ("bartowski/Some-GGUF", "Some-Model-Q4_K_M.gguf", "some-model-q4_k_m"),
])
def test_derive_name(path, gguf, name):
    assert derive_name(path, gguf) == name


def test_issue_instances_are_errors_before_work():
    with pytest.raises(ValueError, match=r"^config model.name='meta-llama/Llama-3.1-8B-Instruct' contradicts "
                                         r"model.path='smollm2-135m', which loads 'smollm2-135m': to run "
                                         r"meta-llama/Llama-3.1-8B-Instruct use model=hf "):
        _compose("model.name=meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(ValueError, match=r"config model.name='smollm2-135m' contradicts "
                                         r"model.path='meta-llama/Llama-3.2-1B-Instruct'"):
        _compose("model.path=meta-llama/Llama-3.2-1B-Instruct", "model.name=smollm2-135m")
    with pytest.raises(ValueError, match=r"config model.published_key='llama3.1-8b' holds the heads of "
                                         r"'meta-llama/Llama-3.1-8B-Instruct', not of model.path='Qwen/Qwen3-8B'"):
        _compose("model=llama3.1-8b", "model.path=Qwen/Qwen3-8B")


def test_name_is_derived_when_not_set():
    assert _compose().model.name == "smollm2-135m"
    assert _compose("model.path=meta-llama/Llama-3.2-1B-Instruct").model.name == "llama3.2-1b"
    cfg = _compose("model=hf", "model.path=Qwen/Qwen2.5-0.5B-Instruct")
    assert cfg.model.name == "qwen2.5-0.5b-instruct" and cfg.model.published_key is None
    assert _compose("model=qwen2.5-7b").model.name == "qwen2.5-7b"
    assert detection_id(cfg).startswith("qwen2.5-0.5b-instruct-")           # run ids say it too
    assert model_label(cfg)["path"] == "Qwen/Qwen2.5-0.5B-Instruct"


def test_explicit_name_rules(tmp_path):
    assert ModelConfig(name="qwen2.5-0.5b-instruct", path="Qwen/Qwen2.5-0.5B-Instruct").name == \
        "qwen2.5-0.5b-instruct"
    assert ModelConfig(name="Qwen/Qwen3-8B", path="Qwen/Qwen3-8B").name == "Qwen/Qwen3-8B"
    with pytest.raises(ValueError, match="drop model.name"):
        ModelConfig(name="my-label", path="Qwen/Qwen3-8B")                  # hub model: label fixed
    local = ModelConfig(name="llama3.1-8b", path=str(tmp_path), published_key="llama3.1-8b")
    assert local.name == "llama3.1-8b"                                     # a local copy may say so
    assert ModelConfig(path=str(tmp_path)).name == tmp_path.name.lower()
    with pytest.raises(ValueError, match="model.path is not set"):
        resolve_name(None, "???")
    assert RunConfig().model.name == "smollm2-135m"


def test_conf_model_groups_agree_with_known_models():
    for f in sorted((CONF / "model").glob("*.yaml")):
        data = yaml.safe_load(f.read_text())          # a YAML states what differs from ModelConfig
        if f.stem in ("hf", "tiny"):
            assert data["path"] == "???" and data.get("published_key") is None
            continue
        assert data.get("name") is None, f"{f.name}: name is derived from path"
        assert KNOWN_MODELS[f.stem] == data["path"], f.name
        assert data.get("published_key") in (None, f.stem), f.name
        assert _compose(f"model={f.stem}").model.name == f.stem


def test_converted_gguf_folder_is_keyed_by_file_content(tmp_path, monkeypatch):
    import qrexp.engine.models as models
    from qrexp.engine.models import ModelSource, _gguf_cache_dir, gguf_digest
    monkeypatch.setattr(models, "GGUF_DIGEST_BYTES", 4)                  # head and tail of 4 bytes
    a, b, c = (tmp_path / n for n in ("a.gguf", "b.gguf", "c.gguf"))
    a.write_bytes(b"GGUF" + b"x" * 20 + b"tail")
    b.write_bytes(b"GGUF" + b"x" * 20 + b"TAIL")                         # same size, other tail
    c.write_bytes(a.read_bytes())
    assert gguf_digest(a) == gguf_digest(c) != gguf_digest(b)
    monkeypatch.setenv("QREXP_CACHE", str(tmp_path / "cache"))
    dirs = {_gguf_cache_dir(ModelSource(str(tmp_path), f.name, alias="m")) for f in (a, b)}
    assert len(dirs) == 2
    remote = [_gguf_cache_dir(ModelSource("org/repo", "m.gguf"), rev) for rev in (None, "v2")]
    assert remote[0] != remote[1] and remote[0].name.startswith("m-remote-")
