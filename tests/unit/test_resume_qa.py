"""An evaluation interrupted while its LLM judge is answering (KeyboardInterrupt at the 2nd recorded
verdict) resumes without generating any QA answer again and re-sends only the 2 verdicts that were
not recorded; its metrics and per-query rows equal an uninterrupted run's. The judge is a real
HTTP server (test_llm.FakeOpenAI); requests and generations are counted at their source."""
from pathlib import Path

import pytest

from qrexp.evals.llm import Generator
from qrexp.experiment import qa_stage
from qrexp.experiment.config import DataConfig, EvalConfig, QAConfig, RunConfig
from qrexp.experiment.evaluate import eval_id, evaluate

from test_llm import FakeOpenAI, server  # noqa: F401  (fixture)
DATA = Path(__file__).resolve().parents[1] / "data"


class Answerer(Generator):
    """Deterministic answers (the last 12 characters of the prompt), every prompt recorded."""
    name = "answerer"

    def __init__(self):
        self.sent = []

    def generate(self, prompts, max_new_tokens):
        self.sent += prompts
        return [p[-1]["content"][-12:] for p in prompts]


def lme_cfg(out, url):
    data = DataConfig(name="lme", loader="lme", args={"path": str(DATA / "lme_tiny.json"), "unit": "round"})
    qa = QAConfig(enabled=True, top_k=(2,), max_new_tokens=6, judge="llm", judge_url=url, judge_model="judge")
    return RunConfig(out_dir=str(out), progress=False,
                     eval=EvalConfig(name="lme", kind="lme", data=data, methods=("bm25",), ks=(1, 3), qa=qa))


def test_an_interrupted_judge_resumes_without_regenerating(tmp_path, monkeypatch, server):  # noqa: F811
    gen = Answerer()
    monkeypatch.setattr(qa_stage, "_generator", lambda cfg: gen)
    cfg = lme_cfg(tmp_path / "out", server.base_url)
    monkeypatch.setenv("QREXP_FAULT_AT", "judge:2:INT")
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg, "bm25", log=lambda line: None)
    folder = tmp_path / "out" / "runs" / eval_id(cfg, "bm25")
    assert (len(gen.sent), len(server.requests)) == (4, 4)       # 4 answers, 4 verdicts (2 recorded)
    assert not (folder / "metrics.json").exists()
    monkeypatch.delenv("QREXP_FAULT_AT")
    lines = []
    metrics = evaluate(cfg, "bm25", log=lines.append)
    assert (len(gen.sent), len(server.requests)) == (4, 6)       # no answer again; 2 verdicts re-sent
    assert any("judge resumed 2 computed 2; qa resumed 4 computed 0" in line for line in lines)

    reference = lme_cfg(tmp_path / "ref", server.base_url)
    assert evaluate(reference, "bm25", log=lambda line: None) == metrics
    assert (len(gen.sent), len(server.requests)) == (8, 10)
    ref_folder = tmp_path / "ref" / "runs" / eval_id(reference, "bm25")
    for name in ("per_query.jsonl", "run.trec", "qrels.trec", "config.json"):
        assert (folder / name).read_bytes() == (ref_folder / name).read_bytes(), name
    assert not (folder / "partial").exists()
