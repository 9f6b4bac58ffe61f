"""Run ids and labels come from the data's identity (name + content fingerprint), never its path:
the same data at two paths shares a run, an edited data file gets a new run and a new number, and
labels derived from a data source name the data set."""
import dataclasses
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import DataConfig, DetectConfig, EvalConfig, RunConfig, from_hydra
from qrexp.experiment.data import data_semantics, examples_fingerprint, load_data
from qrexp.experiment.evaluate import eval_config, eval_id, evaluate
from qrexp.experiment.naming import dataset_name
from qrexp.experiment.detect import detection_id

from clipper_books import write_book

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"


def beir_copy(dest: Path) -> Path:
    shutil.copytree(DATA / "beir_tiny", dest / "beir_tiny")
    shutil.copyfile(DATA / "beir_tiny.run", dest / "beir_tiny.run")
    return dest


def beir_cfg(root: Path, out: Path) -> RunConfig:
    data = DataConfig(name="beir-tiny", loader="beir", qrels=True,
                      args={"source": str(root / "beir_tiny"), "run": str(root / "beir_tiny.run"), "top_k": 10})
    detect = DetectConfig(name="tiny", data=DataConfig(name="tiny-detect", loader="instances",
                                                       args={"path": str(root / "instances.json")}))
    shutil.copyfile(DATA / "instances_tiny.json", root / "instances.json")
    return RunConfig(out_dir=str(out), progress=False, detect=detect,
                     eval=EvalConfig(name="beir-tiny", data=data, methods=("bm25",), measures=("ndcg_cut_10",)))


def test_same_data_at_two_paths_same_ids(tmp_path):
    a = beir_cfg(beir_copy(tmp_path / "a"), tmp_path / "out")
    b = beir_cfg(beir_copy(tmp_path / "elsewhere" / "b"), tmp_path / "out")
    for method in ("bm25", "qrhead", "icr"):
        assert eval_id(a, method) == eval_id(b, method)
    assert detection_id(a) == detection_id(b)
    sem = eval_config(a, "qrhead")
    assert str(tmp_path) not in repr(sem) and "source" not in sem["eval"]["data"]["args"]
    assert sem["eval"]["data"]["fingerprint"] == examples_fingerprint(load_data(a.eval.data, tmp_path))
    logs = []
    first = evaluate(a, "bm25", log=logs.append)
    assert evaluate(b, "bm25", log=logs.append) == first
    assert "finished earlier, skipping" in logs[-1]


def test_edited_data_file_gets_a_new_run_and_number(tmp_path):
    root = write_book(tmp_path / "data")
    cfg = RunConfig(out_dir=str(tmp_path / "out"), progress=False, eval=EvalConfig(
        name="book", kind="clipper", methods=("bm25",), ks=(1,),
        data=DataConfig(name="book", loader="clipper",
                        args={"rows": str(root / "rows.jsonl"), "chapters": str(root / "books")})))
    logs = []
    before_id = eval_id(cfg, "bm25")
    assert evaluate(cfg, "bm25", log=logs.append)["R@1"] == 0.5     # both false claims -> ch3
    (root / "books" / "b1" / "3.txt").write_text("A quiet chapter about nothing.")     # edited in place
    after_id = eval_id(cfg, "bm25")
    assert after_id != before_id
    # now b1-0:false "Ivy sailed from Brenn with honey." -> ch1 ("sailed"); b1-1:false shares no term
    # with any chapter: all scores 0, ties by doc id -> ch1, gold ch2 -> recall (1 + 1 + 1 + 0) / 4
    assert evaluate(cfg, "bm25", log=logs.append)["R@1"] == 0.75
    assert not any("finished earlier" in line for line in logs)
    assert (tmp_path / "out" / "runs" / before_id / "metrics.json").is_file()
    assert (tmp_path / "out" / "runs" / after_id / "metrics.json").is_file()


def test_generated_data_fingerprint_is_stable(tmp_path):
    data = DataConfig(name="g", loader="instances", args={"path": str(DATA / "instances_tiny.json")})
    one = data_semantics(data, tmp_path)
    assert one == data_semantics(dataclasses.replace(data, args={"path": str(DATA / ".." / "data" /
                                                                               "instances_tiny.json")}), tmp_path)
    assert one["args"] == {} and len(one["fingerprint"]) == 16
    assert data_semantics(dataclasses.replace(data, limit=1), tmp_path)["fingerprint"] != one["fingerprint"]


def test_labels_are_names_not_paths(tmp_path):
    cfg = beir_cfg(beir_copy(tmp_path), tmp_path / "out")
    with pytest.raises(ValueError, match=r"config eval.name='/.*beir_tiny': a label must be a non-empty name "
                                         r"without '/'.*eval.name='beir_tiny'"):
        dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, name=str(tmp_path / "beir_tiny")))
    with pytest.raises(ValueError, match="config detect.name='a/b'"):
        dataclasses.replace(cfg, detect=dataclasses.replace(cfg.detect, name="a/b"))
    with pytest.raises(ValueError, match="config eval.data.name='x/y'"):
        dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, data=dataclasses.replace(cfg.eval.data,
                                                                                             name="x/y")))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("source, name", [("nq", "nq"), ("/data/beir/scifact", "scifact"),
                                          ("/data/beir/scifact/", "scifact"), ("x/longmemeval_s.json", "longmemeval_s"),
                                          ("C:\\data\\fiqa", "fiqa")])
def test_dataset_name(source, name):
    assert dataset_name(source) == name


def test_composed_labels_follow_the_data_source(tmp_path):
    overrides = ["model.path=x", "eval=beir", f"eval.data.args.source={tmp_path}/beir/scifact",
                 "detect=nq", "detect.data.args.source=fiqa"]
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = from_hydra(compose("config", overrides=overrides))
    assert (cfg.eval.name, cfg.eval.data.name) == ("scifact", "beir-scifact")
    assert (cfg.detect.name, cfg.detect.data.name) == ("fiqa", "fiqa-detect")
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        default = from_hydra(compose("config", overrides=["model.path=x", "eval=beir", "detect=nq"]))
    assert (default.eval.name, default.detect.name, default.detect.data.name) == ("nq", "nq", "nq-detect")
