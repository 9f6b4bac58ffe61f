"""Rehearsal overrides compose for every rehearsed paper table and point every data path at the
tiny real-format data_dir (nothing left to download); the data_dir has the real layout."""
import json

import pytest
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import evals_of, from_hydra
from qrexp.experiment.rehearsal import N_QUERIES, TABLES, rehearsal_jobs, rehearsal_overrides, write_rehearsal_data
from qrexp.experiment.cli import CONF_DIR


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_rehearsal_data(tmp_path_factory.mktemp("rehearsal") / "data")


def test_data_dir_has_the_real_layout(data_dir):
    lme = json.loads((data_dir / "longmemeval" / "longmemeval_s.json").read_text("utf-8"))
    assert {"question_id", "haystack_session_ids", "haystack_sessions", "answer_session_ids"} <= set(lme[0])
    assert any(r["question_type"] == "single-session-user" for r in lme)
    assert (data_dir / "clipper" / "test.jsonl").is_file() and (data_dir / "clipper" / "books").is_dir()
    assert {p.name for p in (data_dir / "beir").iterdir()} >= {"corpus.jsonl", "queries.jsonl", "qrels", "bm25.run"}


@pytest.mark.parametrize("table", TABLES)
def test_overrides_compose_and_read_only_local_files(table, data_dir):
    overrides = rehearsal_overrides(table, data_dir, ["model=tiny", f"model.path={data_dir}"])   # any local folder
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = from_hydra(compose("config", overrides=overrides))
    assert cfg.name == f"paper-{table}"
    names = [ev.eval.name for ev in evals_of(cfg)]
    assert len(set(names)) == len(names)
    for ev in evals_of(cfg):
        args = dict(ev.eval.data.args)
        if ev.eval.data.loader == "beir":
            assert args["source"] == str(data_dir / "beir") and args["run"] == str(data_dir / "beir" / "bm25.run")
            assert args["n_queries"] == N_QUERIES and "/" not in ev.eval.name          # the data set's own column
        else:
            assert all(str(v).startswith(str(data_dir)) for k, v in args.items() if k in ("path", "rows", "chapters"))
            assert ev.eval.data.limit == 2
        assert not ev.eval.qa.enabled or ev.eval.qa.judge == "contains"
    if cfg.detect.data.loader == "beir":
        assert cfg.detect.data.args["source"] == str(data_dir / "beir")
    assert cfg.heads.source != "published"                 # tiny has no published heads: detected


def test_table5_rehearses_each_detection_choice_as_its_own_run(data_dir):
    jobs = rehearsal_jobs("table5", data_dir, ["model=tiny", f"model.path={data_dir}"])
    assert [j[-1] for j in jobs] != [] and len(jobs) == 3
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfgs = [from_hydra(compose("config", overrides=[o for o in j if o != "hydra.mode=RUN"])) for j in jobs]
    assert [c.detect.name for c in cfgs] == ["nq", "lme", "niah"]      # row labels as the paper's
    assert cfgs[0].detect.data.args["source"] == str(data_dir / "beir") and cfgs[1].detect.data.limit == 2
    assert all("hydra.mode=RUN" in j for j in jobs)


def test_unknown_table_is_refused_with_the_reason(data_dir):
    with pytest.raises(ValueError, match="no rehearsal for paper table 'table4'"):
        rehearsal_overrides("table4", data_dir, [])
