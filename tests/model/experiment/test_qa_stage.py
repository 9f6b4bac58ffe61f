"""The QA stage through evaluate(): CLIPPER per claim vs per pair with hand-computed recall and pair
accuracy, answer-tag counts in metrics.json, and the window check before any generation (a tiny
random Llama as the generator)."""
import json

import pytest

from qrexp.experiment import qa_stage
from qrexp.experiment.config import DataConfig, EvalConfig, QAConfig, RunConfig
from qrexp.experiment.evaluate import eval_id, evaluate
from qrexp.evals.llm import HFGenerator
from qrexp.evals.qa_window import fit_prompts

from clipper_books import Reader, write_book


def clipper_cfg(root, out, claim_queries="per_claim", **qa):
    data = DataConfig(name="book", loader="clipper",
                      args={"rows": str(root / "rows.jsonl"), "chapters": str(root / "books")})
    qa_cfg = QAConfig(enabled=True, top_k=(1,), max_new_tokens=20, **qa)
    return RunConfig(out_dir=str(out), progress=False,
                     eval=EvalConfig(name="book", kind="clipper", data=data, methods=("bm25",), ks=(1,),
                                     qa=qa_cfg, claim_queries=claim_queries))


@pytest.fixture
def reader(monkeypatch):
    gen = Reader()
    monkeypatch.setattr(qa_stage, "generator_of", lambda cfg: gen)
    return gen


def test_evaluate_clipper_per_claim_and_per_pair_by_hand(tmp_path, reader):
    root = write_book(tmp_path / "data")
    cfg = clipper_cfg(root, tmp_path / "out")
    m = evaluate(cfg, "bm25", log=lambda s: None)
    # claims b1-0:true -> ch1 (gold), b1-0:false -> ch3 (gold ch1), b1-1:true -> ch2 (gold), b1-1:false -> ch3
    assert m["R@1"] == 0.5
    assert m["PairAcc@1"] == 0.5 and m["pairs@1"] == 2
    assert (m["true_accuracy@1"], m["false_accuracy@1"]) == (1.0, 0.5)
    assert (m["no_answer_tag@1"], m["several_answer_tags@1"], m["pairs_missing_answer@1"]) == (0, 0, 0)
    rec = json.loads((tmp_path / "out" / "runs" / eval_id(cfg, "bm25") / "metrics.json").read_text())
    assert rec["n"] == 4 and rec["metrics"]["no_answer_tag@1"] == 0
    assert rec["config"]["eval"]["claim_queries"] == "per_claim"
    rows = {r["qid"]: r for r in map(json.loads, (tmp_path / "out" / "runs" / rec["run_id"] / "per_query.jsonl")
                                     .read_text().splitlines())}
    assert rows["b1-0:false"]["false_chapters@1"] == ["ch3"] and rows["b1-0:true"]["true_chapters@1"] == ["ch1"]
    assert rows["b1-1:false"]["pair_correct@1"] is False and rows["b1-0:false"]["R@1"] == 0.0

    ablation = clipper_cfg(root, tmp_path / "out", claim_queries="per_pair")
    assert eval_id(ablation, "bm25") != eval_id(cfg, "bm25")
    m2 = evaluate(ablation, "bm25", log=lambda s: None)
    assert m2["R@1"] == 1.0 and m2["PairAcc@1"] == 1.0 and m2["pairs@1"] == 2


def test_answer_tag_counts_reach_metrics(tmp_path, monkeypatch):
    class Sloppy(Reader):       # several tags on true claims (first one counts), none on false claims
        def generate(self, prompts, max_new_tokens):
            return ["<answer>TRUE</answer><answer>FALSE</answer>" if "Mara" in p[-1]["content"].split(
                "<statement>")[1] else "I think it is false." for p in prompts]
    monkeypatch.setattr(qa_stage, "generator_of", lambda cfg: Sloppy())
    m = evaluate(clipper_cfg(write_book(tmp_path / "data"), tmp_path / "out"), "bm25", log=lambda s: None)
    assert (m["several_answer_tags@1"], m["no_answer_tag@1"], m["pairs_missing_answer@1"]) == (2, 2, 2)
    assert (m["true_accuracy@1"], m["false_accuracy@1"], m["PairAcc@1"]) == (1.0, 0.0, 0.0)


# ---------------------------------------------------------------- the model window

@pytest.fixture(scope="module")
def tiny_generator(chat_tokenizer):
    from organisms import tiny_model
    return HFGenerator(tiny_model("llama", len(chat_tokenizer), max_position_embeddings=96), chat_tokenizer)


class Counting(HFGenerator):
    def __init__(self, base):
        super().__init__(base.model, base.tokenizer)
        self.generated = []

    def _generate_batch(self, seqs, max_new_tokens):
        self.generated += [len(s) for s in seqs]
        assert all(len(s) + max_new_tokens <= self.window for s in seqs)
        return super()._generate_batch(seqs, max_new_tokens)


def test_fit_prompts_error_and_truncate_middle_by_hand(tiny_generator):
    short, long = "Marta lives in Oslo.", "The quick brown fox jumps over the lazy dog. " * 12
    n_short, n_long = len(tiny_generator.encode(short)), len(tiny_generator.encode(long))
    assert n_short < 86 < n_long                               # window 96 - 10 new tokens = 86
    with pytest.raises(ValueError, match=rf"1 of 2 QA prompt\(s\) exceed the model's window: q2 \({n_long} "
                                         r"tokens\) \+ 10 new tokens > 96; set eval.qa.overflow=truncate_middle"):
        fit_prompts(tiny_generator, [short, long], ["q1", "q2"], 10, "error")
    ready, fits = fit_prompts(tiny_generator, [short, long], ["q1", "q2"], 10, "truncate_middle")
    ids = tiny_generator.encode(long)
    assert ready[0] == short and ready[1] == ids[:43] + ids[-43:]          # first and last 43 tokens
    assert [(f.tokens, f.kept, f.truncated) for f in fits] == [(n_short, n_short, False), (n_long, 86, True)]
    with pytest.raises(ValueError, match="max_new_tokens=95 leaves no room"):
        fit_prompts(tiny_generator, [short], ["q1"], 95, "truncate_middle")
    with pytest.raises(ValueError, match="eval.qa.overflow='cut': must be one of error, truncate_middle"):
        fit_prompts(tiny_generator, [short], ["q1"], 10, "cut")


def test_qa_stage_checks_every_prompt_before_generating(tmp_path, tiny_generator, monkeypatch):
    root = write_book(tmp_path / "data", chapters=[c + " More words follow here." * 6 for c in
                                                   ("Mara sailed from Sallow in June.", "Mara returned in September.",
                                                    "Ivy kept bees in Brenn.", "A storm hit Dunmere.")])
    gen = Counting(tiny_generator)
    monkeypatch.setattr(qa_stage, "generator_of", lambda cfg: gen)
    cfg = clipper_cfg(root, tmp_path / "out")
    from qrexp.experiment.data import load_identified
    from qrexp.evals.qa_clipper import claim_examples
    examples = claim_examples(load_identified(cfg.eval.data, tmp_path)[0])
    run = {ex.qid: {"ch1": 1.0} for ex in examples}
    with pytest.raises(ValueError, match=r"4 of 4 QA prompt\(s\) exceed the model's window: b1-0/true_claim@1"):
        qa_stage.answer_questions(cfg, "bm25", examples, run, log=lambda s: None)
    assert gen.generated == []                                   # nothing generated before the check
    trunc = clipper_cfg(root, tmp_path / "out", overflow="truncate_middle")
    m, rows = qa_stage.answer_questions(trunc, "bm25", examples, run, log=lambda s: None)
    assert gen.generated == [76] * 4 and m["prompts_truncated@1"] == 4     # 96 - 20 new tokens
    lengths = [r[key] for r in rows for key in ("true_prompt_tokens@1", "false_prompt_tokens@1") if key in r]
    assert len(lengths) == 4 and m["max_prompt_tokens@1"] == max(lengths) > 96
    assert m["pairs@1"] == 2 and m["no_answer_tag@1"] == 4               # random weights write no tags


def test_qa_limit_keeps_whole_pairs():
    from clipper_books import book_pairs
    from qrexp.evals.qa_clipper import claim_examples
    assert [ex.qid for ex in qa_stage._limited(claim_examples(book_pairs()), 1)] == ["b1-0:true", "b1-0:false"]
    assert [ex.qid for ex in qa_stage._limited(book_pairs(), 1)] == ["b1-0"]


@pytest.mark.parametrize("field, value, message", [
    ("claim_queries", "both", "config eval.claim_queries='both': must be one of per_claim, per_pair"),
    ("overflow", "cut", "config eval.qa.overflow='cut': must be one of error, truncate_middle")])
def test_protocol_fields_checked_when_the_config_is_built(tmp_path, field, value, message):
    root = write_book(tmp_path / "data")
    with pytest.raises(ValueError, match=message):
        if field == "claim_queries":
            clipper_cfg(root, tmp_path / "out", claim_queries=value)
        else:
            clipper_cfg(root, tmp_path / "out", overflow=value)
    assert not (tmp_path / "out").exists()
