"""Missing data files and unreachable models are reported before any work, with the exact file expected
(qrexp.experiment.availability, run by qrexp.experiment.preflight)."""
import pytest

from qrexp.experiment.config import DataConfig, DetectConfig, EvalConfig, HeadsConfig, ModelConfig, RunConfig
from qrexp.experiment.availability import MissingData, check_available
from qrexp.experiment.run import run_experiment
from qrexp.experiment.preflight import InputError


def _cfg(tmp_path, methods=("bm25",), **kw):
    data_dir = str(tmp_path / "data")
    lme = DataConfig(name="lme-s", loader="lme", args={"path": f"{data_dir}/longmemeval/longmemeval_s.json"})
    clipper = DataConfig(name="clipper", loader="clipper",
                         args={"rows": f"{data_dir}/clipper/test.jsonl", "chapters": f"{data_dir}/clipper/books"})
    det = DetectConfig(name="lme", data=DataConfig(name="lme-ssu", loader="lme", args=dict(lme.args)))
    return RunConfig(out_dir=str(tmp_path / "out"), data_dir=data_dir, detect=det,
                     eval=EvalConfig(name="clipper", kind="clipper", data=clipper, methods=methods), **kw)


def test_missing_file_named_before_any_work(tmp_path):
    cfg = _cfg(tmp_path, methods=("qrhead",), heads=HeadsConfig(source="detected"))
    with pytest.raises(InputError) as err:
        run_experiment(cfg)
    assert isinstance(err.value.__cause__, MissingData)
    msg = str(err.value)
    expected = tmp_path / "data" / "longmemeval" / "longmemeval_s.json"       # detection data first
    assert msg.startswith(f"data 'lme-ssu' (detect.data): {expected}: file not found (detect.data.args.path")
    assert "data_dir" in msg and "QREXP_DATA" in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()                                      # no partial run folder


def test_each_missing_path_in_turn(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(MissingData, match=r"clipper/test.jsonl: file not found \(eval.data.args.rows"):
        check_available(cfg, detection=False)
    (tmp_path / "data" / "clipper").mkdir(parents=True)
    (tmp_path / "data" / "clipper" / "test.jsonl").write_text("{}\n")
    with pytest.raises(MissingData, match=r"clipper/books: folder not found \(eval.data.args.chapters"):
        check_available(cfg, detection=False)
    (tmp_path / "data" / "clipper" / "books").mkdir()
    check_available(cfg, detection=False)                           # bm25 needs no model: nothing else checked
    with pytest.raises(MissingData, match="longmemeval_s.json"):
        check_available(cfg, detection=True)


def test_hub_model_checked_when_a_method_needs_it(tmp_path, monkeypatch):
    import socket
    from qrexp.engine.hub import HubUnreachable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    cfg = _cfg(tmp_path, methods=("icr",), model=ModelConfig(name="not-a-model", path="nobody-qrexp/not-a-model"))
    (tmp_path / "data" / "clipper" / "books").mkdir(parents=True)
    (tmp_path / "data" / "clipper" / "test.jsonl").write_text("{}\n")
    with pytest.raises(HubUnreachable, match="model.path=/path/to/not-a-model"):
        check_available(cfg, detection=False)
