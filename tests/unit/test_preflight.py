"""The up-front check (qrexp.experiment.preflight): bad config values that need a registry (methods, measures,
loader arguments, objectives) and bad data records raise InputError before any model loads and
before any run folder exists; good input passes and is loaded once for the run."""
import json
from pathlib import Path

import pytest

from qrexp.experiment import data as data_mod
from qrexp.experiment.config import DataConfig, DetectConfig, EvalConfig, HeadsConfig, RunConfig
from qrexp.experiment.run import run_experiment
from qrexp.experiment.preflight import InputError, preflight

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(autouse=True)
def irds_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))


def _cfg(tmp_path, stage="evaluate", data=None, detect=None, **eval_fields) -> RunConfig:
    data = data or DataConfig(name="tiny", loader="instances", args={"path": str(DATA / "instances_tiny.json")})
    fields = {"name": "probe", "kind": "retrieval", "data": data, "methods": ("bm25",), **eval_fields}
    return RunConfig(name="probe", stage=stage, out_dir=str(tmp_path / "out"), progress=False,
                     heads=HeadsConfig(source="detected"), eval=EvalConfig(**fields),
                     detect=detect or DetectConfig())


@pytest.mark.parametrize("fields,message", [
    ({"methods": ("bm25", "qrhed")}, "config eval.methods[1]: unknown method 'qrhed'; did you mean qrhead"),
    ({"measures": ("ndcg_cut_11x",)}, "config eval.measures[0]: unknown measure 'ndcg_cut_11x'"),
    ({"measures": ("ndcgcut_10",)}, "config eval.measures[0]: unknown measure 'ndcgcut_10'"),
    ({"measures": ("R_all@5",)}, "config eval.measures[0]='R_all@5': not computed by trec_eval"),
    ({"methods": ("published",)}, "config: method 'published' needs model.published_key and heads.task"),
])
def test_bad_names_fail_before_work(tmp_path, fields, message):
    with pytest.raises(InputError) as err:
        run_experiment(_cfg(tmp_path, **fields))
    assert str(err.value).startswith(message)
    assert not (tmp_path / "out").exists()


def test_loader_arguments_are_checked_by_name(tmp_path):
    bad = DataConfig(name="tiny", loader="instances", args={"path": "x", "paht": 3})
    with pytest.raises(InputError, match=r"^config eval.data.args.paht: not an argument of the 'instances' "
                                         r"loader \(its arguments: path, limit\)"):
        preflight(_cfg(tmp_path, data=bad))
    with pytest.raises(InputError, match=r"^config eval.data.args.path: required by the 'instances' loader"):
        preflight(_cfg(tmp_path, data=DataConfig(name="tiny", loader="instances", args={})))
    with pytest.raises(InputError, match=r"^unknown data loader 'instance'; did you mean 'instances'"):
        preflight(_cfg(tmp_path, data=DataConfig(name="tiny", loader="instance", args={"path": "x"})))


def test_bad_record_of_detection_data_fails_before_the_model_loads(tmp_path):
    records = json.loads((DATA / "instances_tiny.json").read_text())
    records[1]["paragraphs"][0]["paragraph_text"] = 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    detect = DetectConfig(name="d", data=DataConfig(name="bad", loader="instances", args={"path": str(bad)}))
    # qrhead with detected heads needs the detection data: its record 2 is checked up front
    with pytest.raises(InputError) as err:
        run_experiment(_cfg(tmp_path, detect=detect, methods=("bm25", "qrhead")))
    assert str(bad) in str(err.value) and "paragraph_text" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
    # bm25 alone does not detect: the same detection data is not needed, the run goes ahead
    out = run_experiment(_cfg(tmp_path, detect=detect, methods=("bm25",)))
    assert set(out["metrics"]) == {"probe/bm25"}


def test_a_file_is_not_found_in_one_line(tmp_path):
    missing = DataConfig(name="gone", loader="instances", args={"path": str(tmp_path / "gone.json")})
    with pytest.raises(InputError, match="gone.json"):
        preflight(_cfg(tmp_path, data=missing))


def test_data_is_loaded_once_per_run(tmp_path, monkeypatch):
    calls = []
    real = data_mod._load
    monkeypatch.setattr(data_mod, "_load", lambda *a: calls.append(a) or real(*a))
    run_experiment(_cfg(tmp_path, methods=("bm25", "chance")))
    assert len(calls) == 1                                   # preflight and two methods share one load
    run_experiment(_cfg(tmp_path, methods=("bm25",)))        # a new run loads again (files may change)
    assert len(calls) == 2


def test_graded_qrels_asked_for_but_absent_is_an_error_up_front(tmp_path):
    data = DataConfig(name="tiny", loader="instances", qrels=True, args={"path": str(DATA / "instances_tiny.json")})
    with pytest.raises(InputError, match=r"data.qrels=true but its loader gives no graded qrels"):
        run_experiment(_cfg(tmp_path, data=data))
    assert not (tmp_path / "out").exists()


def test_a_local_model_path_that_does_not_exist_fails_before_loading(tmp_path):
    from qrexp.experiment.config import ModelConfig
    cfg = _cfg(tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "model": ModelConfig(path=str(tmp_path / "no-model"))})
    with pytest.raises(InputError, match=r"^config model.path='.*no-model': no such file or folder"):
        run_experiment(cfg)
    assert not (tmp_path / "out").exists()


def test_stage_detect_checks_the_detection_it_runs(tmp_path):
    detect = DetectConfig(name="d", objective="qrscor",
                          data=DataConfig(name="tiny", loader="instances", args={"path": str(DATA / "instances_tiny.json")}))
    with pytest.raises(InputError, match=r"unknown detection objective 'qrscor'; did you mean 'qrscore'"):
        preflight(_cfg(tmp_path, stage="detect", detect=detect))
    gone = DetectConfig(name="d", data=DataConfig(name="gone", loader="instances", args={"path": "/nope.json"}))
    with pytest.raises(InputError, match=r"^data 'gone' \(detect.data\): /nope.json: file not found"):
        preflight(_cfg(tmp_path, stage="detect", detect=gone))
    preflight(_cfg(tmp_path, stage="report", detect=gone))          # the report stage reads no data
