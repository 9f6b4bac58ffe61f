"""Generation prompts are bounded against the window before any forward pass (qrexp.experiment.gen_window):
QA answer prompts (exact for the full context, best / worst case for top-k) and RankGPT's windows.
Lengths are checked against the chat template tokenized directly; the window is set one token
either side of the boundary on a real tiny model."""
from pathlib import Path

import pytest
from organisms import bpe_tokenizer, tiny_model

from qrexp.data.lme import load_lme
from qrexp.evals.rankgpt import RankGPTRanker, rankgpt_messages
from qrexp.evals.qa_lme import lme_prompts
from qrexp.experiment.config import EvalConfig, QAConfig, RunConfig
from qrexp.experiment.gen_window import check_generation_windows, passage
from qrexp.types import Doc, Example

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def chat_len(tok, messages) -> int:
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return len(tok(text, add_special_tokens=False)["input_ids"])


def _cfg(kind="lme", top_k=(1,), overflow="error", max_new=16) -> RunConfig:
    qa = QAConfig(enabled=True, top_k=top_k, max_new_tokens=max_new, overflow=overflow)
    return RunConfig(eval=EvalConfig(name="x", kind=kind, qa=qa))


def _check(tok, window, cfg, method, examples, qa=True):
    model = tiny_model("llama", len(tok), max_position_embeddings=window)
    lines = []
    check_generation_windows(cfg, method, examples, qa, lambda: (model, tok), lines.append)
    return lines


def test_full_context_qa_prompt_over_the_window_fails_up_front_with_the_count(tok):
    exs = load_lme(DATA / "lme_tiny.json")
    lengths = [chat_len(tok, p) for p in lme_prompts(exs, None, None)]
    longest = max(lengths)
    cfg = _cfg(max_new=16)
    lines = _check(tok, longest + 16, cfg, "full-context", exs)          # fits exactly
    assert f"up to {longest} tokens" in lines[0] and "0 cannot fit" in lines[0]
    with pytest.raises(ValueError, match=rf"{lengths.count(longest)} of {len(exs)} prompts exceed"):
        _check(tok, longest + 15, cfg, "full-context", exs)
    lines = _check(tok, longest + 15, _cfg(max_new=16, overflow="truncate_middle"), "full-context", exs)
    assert f"{lengths.count(longest)} cannot fit" in lines[0]              # truncated later, recorded there


def test_top_k_qa_prompts_are_bounded_by_the_longest_and_shortest_units(tok):
    exs = load_lme(DATA / "lme_tiny.json")
    units = lambda d: len(tok(d.text, add_special_tokens=False)["input_ids"])
    worst = [chat_len(tok, lme_prompts([ex], {ex.qid: {max(ex.docs, key=units).doc_id: 1.0}}, 1)[0]) for ex in exs]
    best = [chat_len(tok, lme_prompts([ex], {ex.qid: {min(ex.docs, key=units).doc_id: 1.0}}, 1)[0]) for ex in exs]
    assert max(worst) > max(best)
    cfg = _cfg(top_k=(1,), max_new=8)
    lines = _check(tok, max(best) + 8, cfg, "qrhead", exs)                 # every best case fits
    assert "0 cannot fit" in lines[0] and f"up to {max(worst)} tokens" in lines[0]
    assert f"{sum(w > max(best) for w in worst)} may not fit" in lines[0]
    with pytest.raises(ValueError, match="even over their shortest units"):
        _check(tok, max(best) + 7, cfg, "qrhead", exs)


def test_rankgpt_windows_are_checked_before_ranking(tok):
    docs = tuple(Doc(f"d{i}", " ".join(f"word{j}" for j in range(5 + 7 * i)), title=f"t{i}") for i in range(24))
    ex = Example(qid="q1", query="which passage is longest", docs=docs)
    ranker = RankGPTRanker(None)
    by_len = sorted(docs, key=lambda d: len(passage(d)))
    best = chat_len(tok, rankgpt_messages(ex.query, [passage(d) for d in by_len[:20]], ranker.max_words))
    worst = chat_len(tok, rankgpt_messages(ex.query, [passage(d) for d in by_len[-20:]], ranker.max_words))
    new = ranker.max_new_tokens
    lines = _check(tok, best + new, _cfg(), "rankgpt", [ex], qa=False)
    assert f"up to {worst} tokens" in lines[0] and "0 cannot fit, 1 may not fit" in lines[0]
    with pytest.raises(ValueError, match="RankGPT has no truncation"):
        _check(tok, best + new - 1, _cfg(), "rankgpt", [ex], qa=False)
    assert "0 may not fit" in _check(tok, worst + new, _cfg(), "rankgpt", [ex], qa=False)[0]


def test_methods_without_generation_load_nothing(tok):
    def boom():
        raise AssertionError("loaded")
    check_generation_windows(_cfg(), "qrhead", [Example(qid="q", query="x", docs=(Doc("d", "t"),))], False, boom)
