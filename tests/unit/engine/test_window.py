"""Prompt lengths checked for the whole data set before any forward pass: the count over the window
fails at once, or (opt-in) the lowest first-stage candidates are dropped until each prompt fits."""
import pytest

from qrexp.engine.prompt import PromptBuilder, PromptSettings
from qrexp.types import Doc, Example
from qrexp.engine.window import fit_window, prompt_length, window_record


@pytest.fixture(scope="module")
def builder(chat_tokenizer):
    return PromptBuilder(chat_tokenizer, PromptSettings("chat"))       # no model: tokenizer only


def _example(qid, n_docs, words=30):
    docs = [Doc(f"{qid}d{i}", " ".join(f"word{i}x{j}" for j in range(words))) for i in range(n_docs)]
    first = {d.doc_id: float(100 - i) for i, d in enumerate(docs)}     # d0 best ... presented reversed
    return Example(qid, "which word comes first", tuple(reversed(docs)), gold={f"{qid}d0", f"{qid}d5"},
                   meta={"first_stage": first})


def test_lengths_are_the_built_prompts(builder):
    ex = _example("q", 3)
    assert prompt_length(builder, ex.query, ex.docs) == len(builder.build(ex.query, ex.docs).input_ids)


def test_fail_reports_the_count_before_any_work(builder):
    exs = [_example("a", 2), _example("b", 8), _example("c", 9)]
    lens = [prompt_length(builder, e.query, e.docs) for e in exs]
    window = (lens[0] + lens[1]) // 2                                   # a fits; b and c do not
    logged = []
    with pytest.raises(ValueError) as info:
        fit_window(exs, builder, window, "fail", logged.append, progress=False)
    assert str(info.value).startswith(f"2 of 3 prompts exceed the model's window of {window} tokens "
                                      f"(longest: example c, {lens[2]} tokens)")
    assert logged == [f"[window] prompt tokens over 3 examples: min {lens[0]}, median {lens[1]}, max {lens[2]}, "
                      f"total {sum(lens)}; 2 exceed the window of {window}"]
    assert fit_window(exs, builder, max(lens), "fail", logged.append, progress=False) == exs


def test_truncate_drops_the_lowest_first_stage_candidates(builder):
    exs = [_example("a", 2), _example("b", 10)]
    window = prompt_length(builder, exs[1].query, exs[1].docs[-6:])   # the 6 best of b fit exactly
    out = fit_window(exs, builder, window, "truncate", lambda _: None, progress=False)
    assert out[0] is exs[0]
    b = out[1]
    assert b.doc_ids == [f"bd{i}" for i in (5, 4, 3, 2, 1, 0)]       # kept in the presented (reversed) order
    assert b.gold == {"bd0", "bd5"}
    assert b.meta["window"] == {"tokens": prompt_length(builder, exs[1].query, exs[1].docs), "kept": 6,
                                "dropped": ["bd6", "bd7", "bd8", "bd9"]}
    # one more candidate would not fit
    assert prompt_length(builder, b.query, exs[1].docs[-7:]) > window >= prompt_length(builder, b.query, b.docs)
    assert window_record(out) == {"b": 4}
    tighter = fit_window(exs, builder, prompt_length(builder, "which word comes first", exs[1].docs[-5:]),
                         "truncate", lambda _: None, progress=False)[1]
    assert tighter.gold == {"bd0"} and tighter.meta["window"]["kept"] == 5     # a dropped gold leaves gold


def test_truncate_needs_a_first_stage(builder):
    ex = Example("lme", "which word", (Doc("s1", "a " * 300), Doc("s2", "b " * 300)))
    with pytest.raises(ValueError, match="example lme: prompt has .* no first-stage scores to truncate by"):
        fit_window([ex], builder, 50, "truncate", lambda _: None, progress=False)
    with pytest.raises(ValueError, match="unknown window policy 'cut'"):
        fit_window([ex], builder, 50, "cut")
