"""Run store: ids, atomic writes, provenance and the pandas view."""
import hashlib
import json
import math

import pytest

from qrexp.io.files import atomic_write_bytes, atomic_write_text, canonical_json
from qrexp.runs.store import RunStore, run_id, strip_secrets
from qrexp.runs.table import load_runs

CONFIG = {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "dtype": "bfloat16"},
          "task": "beir/nq", "heads": {"source": "published", "k": 16}, "seed": 42}


def test_run_id_stable_and_order_insensitive():
    reordered = {"seed": 42, "heads": {"k": 16, "source": "published"}, "task": "beir/nq",
                 "model": {"dtype": "bfloat16", "name": "meta-llama/Llama-3.1-8B-Instruct"}}
    a = run_id(CONFIG, ("model.name", "task"))
    assert a == run_id(reordered, ("model.name", "task"))
    digest = hashlib.sha256(canonical_json(CONFIG).encode()).hexdigest()[:10]
    assert a == f"llama-3.1-8b-instruct-nq-{digest}"
    assert run_id(CONFIG) == digest
    # a semantic change changes the id, the prefix alone does not define it
    changed = {**CONFIG, "heads": {"source": "published", "k": 32}}
    assert run_id(changed, ("model.name", "task")) != a
    assert run_id(changed, ("model.name", "task")).startswith("llama-3.1-8b-instruct-nq-")
    with pytest.raises(KeyError, match="'model.size' is not in the config"):
        run_id(CONFIG, ("model.size",))


def test_atomic_writes_leave_no_temp_files(tmp_path):
    store = RunStore(tmp_path)
    rid = "r1-abc"
    store.write_json(rid, "config.json", {"b": 1, "a": (1, 2)})
    store.write_text(rid, "run.trec", "q1 Q0 d1 1 2.0 x\n")
    store.write_jsonl(rid, "per_query.jsonl", [{"qid": "q1", "ndcg": 0.5}, {"qid": "q2", "ndcg": 1.0}])
    store.write_text(rid, "run.trec", "q1 Q0 d2 1 3.0 x\n")  # overwrite in place
    folder = store.run_dir(rid)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "per_query.jsonl", "run.trec"]
    assert json.loads((folder / "config.json").read_text()) == {"a": [1, 2], "b": 1}
    rows = [json.loads(line) for line in (folder / "per_query.jsonl").read_text().splitlines()]
    assert rows == [{"qid": "q1", "ndcg": 0.5}, {"qid": "q2", "ndcg": 1.0}]
    assert (folder / "run.trec").read_text() == "q1 Q0 d2 1 3.0 x\n"


def test_failed_write_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / "r" / "m.json"
    atomic_write_text(target, "old")
    store = RunStore(tmp_path)
    with pytest.raises(ValueError, match=r"r/m.json \$.score: value nan is not finite"):
        store.write_json("r", "m.json", {"score": math.nan})
    with pytest.raises(TypeError, match=r"\$.x: value of type object"):
        store.write_json("r", "m.json", {"x": object()})
    assert target.read_text() == "old"
    with pytest.raises(ValueError, match=r"r/p.jsonl line 2 \$.s: value inf"):
        store.write_jsonl("r", "p.jsonl", [{"s": 1.0}, {"s": math.inf}])
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]


def test_interrupted_write_removes_its_temp_file(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails after the temp file exists
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_unsafe_names_rejected(tmp_path):
    store = RunStore(tmp_path)
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="unsafe run id"):
            store.run_dir(bad)
    with pytest.raises(ValueError, match="inside the run folder"):
        store.write_text("ok", "../escape.txt", "x")


def test_finish_provenance_and_is_finished(tmp_path):
    store = RunStore(tmp_path)
    rid = run_id(CONFIG, ("task",))
    cfg = {**CONFIG, "wandb": {"api_key": "abc123", "project": "p"}, "hf_token": "t"}
    store.start(rid, cfg)
    assert not store.is_finished(rid)
    store.finish(rid, {"ndcg_cut_10": 0.5}, n=3, config=cfg, extra={"dataset": {"name": "nq"}})
    assert store.is_finished(rid)
    rec = json.loads((store.run_dir(rid) / "metrics.json").read_text())
    for field in ("run_id", "metrics", "n", "config", "extra", "git_sha", "git_dirty", "packages",
                  "python", "platform", "device", "wall_time_s", "timestamp"):
        assert field in rec, field
    assert rec["metrics"] == {"ndcg_cut_10": 0.5} and rec["n"] == 3
    assert rec["wall_time_s"] >= 0.0
    assert rec["git_sha"] is None or len(rec["git_sha"]) == 40
    assert {"torch", "transformers", "qrexp", "pytrec-eval-terrier"} <= set(rec["packages"])
    assert rec["packages"]["pytrec-eval-terrier"] and rec["packages"]["qrexp"]
    folder = store.run_dir(rid)
    text = (folder / "metrics.json").read_text() + (folder / "config.json").read_text()
    assert "abc123" not in text and "hf_token" not in text
    assert rec["config"]["wandb"] == {"project": "p"}


def test_strip_secrets_nested():
    cfg = {"API_KEY": 1, "keys": 2, "llm": [{"auth_token": "x", "name": "m"}], "Password": "p", "n": 1}
    assert strip_secrets(cfg) == {"llm": [{"name": "m"}], "n": 1}


def test_load_runs_dataframe(tmp_path):
    store = RunStore(tmp_path)
    for task, score in (("nq", 0.5), ("fiqa", 0.25)):
        cfg = {"task": task, "model": {"name": "m"}, "heads": ["1-2", "3-4"]}
        store.finish(run_id(cfg, ("task",)), {"ndcg_cut_10": score}, n=2, config=cfg, wall_time_s=1.5)
    store.write_text("unfinished-run", "config.json", "{}")
    df = load_runs(tmp_path)
    assert len(df) == 2
    assert {"run_id", "n", "wall_time_s", "git_sha", "config.task", "config.model.name",
            "metrics.nDCG@10"} <= set(df.columns)
    by_task = df.set_index("config.task")
    assert by_task.loc["fiqa", "metrics.nDCG@10"] == 0.25   # written as ndcg_cut_10, read in the one vocabulary
    assert by_task.loc["nq", "config.heads"] == ("1-2", "3-4")
    assert list(load_runs(tmp_path / "nothing").columns) == ["run_id", "n"]
    store.run_dir("broken").mkdir()
    (store.run_dir("broken") / "metrics.json").write_text("{not json")
    warned = []
    df = load_runs(tmp_path, warn=warned.append)       # a corrupt run is left out, with one line
    assert len(df) == 2 and len(warned) == 1
    assert "broken/metrics.json: corrupt metrics.json" in warned[0] and "\n" not in warned[0]


def test_runs_shared_between_experiments_record_who_used_them(tmp_path):
    store = RunStore(tmp_path)
    store.start("r1", {"method": "icr"})
    store.finish("r1", {"ndcg_cut_10": 0.5}, 3, {"method": "icr", "experiment": "demo"})
    store.mark_used("r1", "demo")
    store.mark_used("r1", "ablation-calibration")      # a later experiment reuses the finished run
    store.mark_used("r1", "demo")                      # idempotent
    runs = load_runs(tmp_path)
    assert runs.loc[0, "used_by"] == ["ablation-calibration", "demo"]
    assert runs.loc[0, "config.experiment"] == "demo"  # who created it stays in the record
