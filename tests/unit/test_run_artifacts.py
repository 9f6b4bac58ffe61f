"""Run artifacts say what was really run (issue 9): run.trec reproduces the evaluated ranking under
trec_eval's tie rule, writes respect the umask, corrupt finish markers are recomputed, git_dirty
ignores results/, head files stay byte-stable, and W&B inputs are checked before any work."""
import json
import math
import os
import subprocess

import pytest
import pytrec_eval
import torch

from qrexp.evals.metrics import evaluate_run
from qrexp.io.files import atomic_write_text
from qrexp.runs.provenance import git_state
from qrexp.runs.store import RunStore
from qrexp.io.trec import rank_scores, write_trec_qrels, write_trec_run


def _pytrec_file_scores(run_path, qrels_path, measures):
    with open(qrels_path) as fq, open(run_path) as fr:
        qrels, run = pytrec_eval.parse_qrel(fq), pytrec_eval.parse_run(fr)
    return pytrec_eval.RelevanceEvaluator(qrels, set(measures)).evaluate(run)


def test_tied_run_file_scores_like_the_ranking_we_evaluated(tmp_path):
    # three docs tie at 1.0; we rank them a, b, c (doc id ascending), trec_eval would rank c, b, a
    run = {"q1": {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.5}, "q2": {"x": 0.0, "y": 0.0}}
    qrels = {"q1": {"a": 1}, "q2": {"y": 2}}
    _, ours = evaluate_run(run, qrels, ["ndcg_cut_10"])
    assert ours["nDCG@10"] == pytest.approx((1.0 + 1 / math.log2(3)) / 2, abs=1e-15)
    write_trec_run(run, tmp_path / "run.trec")
    write_trec_qrels(qrels, tmp_path / "qrels.trec")
    rescored = _pytrec_file_scores(tmp_path / "run.trec", tmp_path / "qrels.trec", ["ndcg_cut_10"])
    assert rescored["q1"]["ndcg_cut_10"] == 1.0 and rescored["q2"]["ndcg_cut_10"] == 1 / math.log2(3)
    # the old file (tied scores written as ties) scores what trec_eval's tie rule gives instead
    (tmp_path / "tied.trec").write_text("".join(f"{q} Q0 {d} 1 {s!r} x\n" for q, r in run.items()
                                                for d, s in r.items()))
    tied = _pytrec_file_scores(tmp_path / "tied.trec", tmp_path / "qrels.trec", ["ndcg_cut_10"])
    assert tied["q1"]["ndcg_cut_10"] == 1 / math.log2(4) and tied["q2"]["ndcg_cut_10"] == 1.0
    assert (tmp_path / "qrels.trec").read_text() == "q1 0 a 1\nq2 0 y 2\n"


def test_rank_scores_keep_untied_scores_and_order():
    scores = {"b": 2.0, "a": 2.0, "c": 1.5, "d": math.nextafter(2.0, 0)}
    written = rank_scores(scores)
    assert [d for d, _ in written] == ["a", "b", "d", "c"]
    values = [s for _, s in written]
    assert values[0] == 2.0 and values[-1] == 1.5
    assert all(x > y for x, y in zip(values, values[1:]))          # strictly decreasing
    with pytest.raises(ValueError, match="'q', doc 'x': score is NaN"):
        rank_scores({"x": math.nan}, "q")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_follows_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "sub" / "f.txt", "x")
        RunStore(tmp_path).write_json("r1", "metrics.json", {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert (tmp_path / "r1" / "metrics.json").stat().st_mode & 0o777 == mode


def test_corrupt_metrics_json_is_not_a_finish_marker(tmp_path):
    store = RunStore(tmp_path)
    store.start("r1", {"a": 1})
    store.finish("r1", {"m": 0.5}, 2, {"a": 1})
    assert store.finished_record("r1")["metrics"] == {"m": 0.5}
    for text in ("{not json", '{"metrics": {}}', "[]"):
        (tmp_path / "r1" / "metrics.json").write_text(text)
        warned = []
        assert store.finished_record("r1", warn=warned.append) is None
        assert len(warned) == 1 and "r1/metrics.json: corrupt metrics.json" in warned[0]
        assert "recomputed" in warned[0] and "\n" not in warned[0]
    store.start("r1", {"a": 1})                       # restarting drops the corrupt marker
    assert not (tmp_path / "r1" / "metrics.json").exists()


def test_git_dirty_only_for_source_files(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "qrexp").mkdir()
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "qrexp" / "a.py").write_text("x = 1\n")
    (tmp_path / "results" / "tables" / "t.md").write_text("| a |\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert git_state(tmp_path / "qrexp")["git_dirty"] is False
    (tmp_path / "results" / "tables" / "t.md").write_text("| b |\n")     # a regenerated table
    (tmp_path / "results" / "new.md").write_text("untracked\n")
    assert git_state(tmp_path / "qrexp")["git_dirty"] is False
    (tmp_path / "qrexp" / "a.py").write_text("x = 2\n")                   # a source edit
    assert git_state(tmp_path / "qrexp")["git_dirty"] is True
    assert len(git_state(tmp_path)["git_sha"]) == 40


def _grid():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 4, generator=g, dtype=torch.float32)


def test_head_files_identical_numbers_identical_bytes_and_noise_kept_out(tmp_path):
    from qrexp.heads.files import read_detection, write_detection
    from qrexp.heads.objectives import rank_heads
    from qrexp.heads.files import publish_detection, round_scores

    scores = round_scores(_grid())
    kwargs = dict(objective="qrscore", model="m", n_examples=4, k=3)
    ours, _ = write_detection(tmp_path / "a" / "heads.json", rank_heads(scores), {"run_id": "r"}, **kwargs)
    write_detection(tmp_path / "b" / "heads.json", rank_heads(scores.clone()), {"run_id": "r"}, **kwargs)
    for name in ("heads.json", "heads.paper.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    data = json.loads(ours.read_text())
    assert all(len(f"{v:.15g}".lstrip("-0.").rstrip("0")) <= 6 for row in data["scores"] for v in row)
    ranked, grid = read_detection(ours)
    assert data["heads"] == [f"{l}-{h}" for (l, h), _ in ranked[:3]]
    # publish, then a rerun with 1e-8 noise: the tracked bytes stay; a real change replaces them
    target = tmp_path / "results" / "det"
    assert len(publish_detection(ours, target, log=print)) == 2
    before = (tmp_path / "results" / "det.json").read_bytes()
    noisy = _grid() + 1e-8
    write_detection(tmp_path / "c" / "heads.json", rank_heads(noisy), {"run_id": "r"}, **kwargs)
    lines = []
    assert publish_detection(tmp_path / "c" / "heads.json", target, log=lines.append) == []
    assert (tmp_path / "results" / "det.json").read_bytes() == before and lines == []
    changed = _grid()
    changed[0, 0] = 5.0
    write_detection(tmp_path / "d" / "heads.json", rank_heads(changed), {"run_id": "r"}, **kwargs)
    publish_detection(tmp_path / "d" / "heads.json", target, log=lines.append)
    assert json.loads((tmp_path / "results" / "det.json").read_text())["heads"][0] == "0-0"
    assert len(lines) == 2 and all("replacing" in line for line in lines)


def test_detection_breaks_document_ties_by_doc_id_like_evaluation():
    """Two docs tie for every head; evaluation ranks "a" before "b" (doc id ascending), so the
    gold "a" is each head's top document: recall1 = 1 and ndcg10 = 1, whatever the prompt order."""
    from qrexp.experiment.detect import detect_heads
    from qrexp.types import Doc, Example

    class GivenScores:               # supplies DocScores [D, L, H] in the example's doc order
        def iter_doc_scores(self, examples, opts, progress, desc):
            return (torch.ones(len(ex.docs), 2, 3) for ex in examples)

    ex = Example("q1", "which?", (Doc("b", "x"), Doc("a", "y")), gold={"a"})
    for objective in ("recall1", "ndcg10"):
        det = detect_heads(GivenScores(), [ex], objective, k=2)
        assert det.scores.tolist() == [[1.0] * 3] * 2, objective


def test_corrupt_used_by_is_rebuilt_not_a_traceback(tmp_path):
    store = RunStore(tmp_path)
    store.finish("r1", {"m": 0.5}, 2, {"a": 1})
    (tmp_path / "r1" / "used_by.json").write_text("[\"demo\", ")
    with pytest.warns(UserWarning, match=r"r1/used_by.json: corrupt used_by.json"):
        store.mark_used("r1", "ablation")
    assert json.loads((tmp_path / "r1" / "used_by.json").read_text()) == ["ablation"]
