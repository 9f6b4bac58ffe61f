"""Baseline rankers: BM25 against hand-computed Lucene scores, the packaged MiniLM bi-encoder, and
RankGPT's sliding-window permutations with a scripted generator (a test double for the LLM)."""
import math
import os

import pytest

from qrexp.evals.baselines import RANKERS, BM25Ranker, DenseRanker, packaged_minilm
from qrexp.evals.rankgpt import RankGPTRanker, parse_permutation, rankgpt_messages, sliding_windows
from qrexp.evals.llm import Generator
from qrexp.types import Doc, Example


def test_registry_names():
    assert RANKERS.names() == ["bm25", "dense", "rankgpt"]
    assert RANKERS.get("bm25") is BM25Ranker
    with pytest.raises(KeyError, match="did you mean 'rankgpt'"):
        RANKERS.get("rank_gpt")


def test_bm25_hand_computed():
    docs = [Doc("a", "apple banana apple"), Doc("b", "banana cherry"), Doc("c", "cherry durian fig grape"),
            Doc("d", "the of and")]
    ex = Example("q1", "apple cherry", docs)
    run = RANKERS.get("bm25")().rank([ex])
    # Lucene BM25 (k1=0.9, b=0.4), stopwords removed: doc lengths 3, 2, 4, 0 -> avgdl 9/4
    n, avgdl = 4, 9 / 4

    def bm25(tf, dl, df):
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf / (tf + 0.9 * (1 - 0.4 + 0.4 * dl / avgdl))
    expected = {"a": bm25(2, 3, 1), "b": bm25(1, 2, 2), "c": bm25(1, 4, 2), "d": 0.0}
    assert run["q1"] == pytest.approx(expected, rel=1e-5)
    assert max(run["q1"], key=run["q1"].get) == "a"


def test_bm25_uses_titles_and_each_example_alone():
    docs = [Doc("x", "a short note", title="Volcano"), Doc("y", "a long story about nothing")]
    exs = [Example("q1", "volcano", docs), Example("q2", "story", [Doc("z", "story time")])]
    run = BM25Ranker().rank(exs)
    assert run["q1"]["x"] > 0 and run["q1"]["y"] == 0 and list(run["q2"]) == ["z"]
    assert BM25Ranker(with_title=False).rank(exs[:1])["q1"]["x"] == 0
    assert BM25Ranker().rank([Example("q0", "volcano", [])]) == {"q0": {}}


@pytest.fixture(scope="module")
def minilm():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"        # set by conftest: the model folder is local
    return DenseRanker()


def test_dense_minilm_ranks_the_match_first(minilm):
    assert minilm.model_name == packaged_minilm()
    docs = [Doc("fin", "The central bank raised interest rates again this quarter."),
            Doc("cat", "Cats sleep for up to sixteen hours a day, mostly during daylight."),
            Doc("geo", "Paris is the capital and largest city of France.")]
    ex = Example("q", "What is the capital of France?", docs)
    scores = minilm.rank([ex])["q"]
    assert max(scores, key=scores.get) == "geo" and set(scores) == {"fin", "cat", "geo"}
    assert all(-1.0 <= s <= 1.0 + 1e-6 for s in scores.values())        # cosine
    q, d = minilm.model.encode([ex.query, docs[2].text], normalize_embeddings=True)
    assert scores["geo"] == pytest.approx(float(q @ d), abs=1e-5)
    with pytest.raises(ValueError, match="unknown similarity"):
        DenseRanker(similarity="l2")


class Scripted(Generator):
    """Test double for the LLM: returns the scripted replies in order and records every prompt."""

    def __init__(self, replies):
        self.replies, self.prompts, self.batches = list(replies), [], []

    def generate(self, prompts, max_new_tokens):
        self.batches.append(len(prompts))
        self.prompts += prompts
        return [self.replies.pop(0) for _ in prompts]


def _example(n, qid="q"):
    return Example(qid, "which one?", [Doc(f"d{i}", f"passage {i}") for i in range(n)])


def test_sliding_windows():
    assert sliding_windows(10, 4, 2) == [(6, 10), (4, 8), (2, 6), (0, 4)]
    assert sliding_windows(5, 3, 2) == [(2, 5), (0, 3)]
    assert sliding_windows(6, 3, 2) == [(3, 6), (1, 4), (0, 2)]
    assert sliding_windows(3, 20, 10) == [(0, 3)]
    assert sliding_windows(0, 20, 10) == []


@pytest.mark.parametrize("text, n, order, status", [
    ("[2] > [3] > [1]", 3, [1, 2, 0], "ok"),
    ("[2] > [2] > [1]", 3, [1, 0, 2], "partial"),          # repeat dropped, missing id appended
    ("[5] > [1]", 3, [0, 1, 2], "partial"),                # out of range dropped
    ("2 > 3 > 1", 3, [1, 2, 0], "ok"),                     # bare numbers when nothing is bracketed
    ("Ranking for 2024: [3] > [1] > [2]", 3, [2, 0, 1], "ok"),
    ("I cannot rank these passages.", 3, [0, 1, 2], "failed"),
])
def test_parse_permutation(text, n, order, status):
    assert parse_permutation(text, n) == (order, status)


def test_rankgpt_prompt_format():
    msgs = rankgpt_messages("q?", ["alpha beta gamma", "delta"], max_words=2)
    assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert msgs[1]["content"] == ("I will provide you with 2 passages, each indicated by number identifier []. \n"
                                  "Rank the passages based on their relevance to query: q?.")
    assert msgs[3]["content"] == "[1] alpha beta" and msgs[4]["content"] == "Received passage [1]."
    assert msgs[5]["content"] == "[2] delta"
    assert msgs[-1]["content"].startswith("Search Query: q?. \nRank the 2 passages above")
    assert "e.g., [1] > [2]." in msgs[-1]["content"]


def test_rankgpt_sliding_window_by_hand():
    # 5 docs, window 3, step 2 -> windows (2,5) then (0,3).
    # window (2,5) holds d2 d3 d4; "[3] > [1] > [2]" -> d4 d2 d3; list: d0 d1 d4 d2 d3
    # window (0,3) holds d0 d1 d4; "[3] > [2]" -> d4 d1 then missing d0; list: d4 d1 d0 d2 d3
    gen = Scripted(["[3] > [1] > [2]", "[3] > [2]"])
    ranker = RankGPTRanker(gen, window=3, step=2)
    run = ranker.rank([_example(5)])
    assert run == {"q": {"d4": 5.0, "d1": 4.0, "d0": 3.0, "d2": 2.0, "d3": 1.0}}
    assert [m["content"] for m in gen.prompts[0][3:8:2]] == ["[1] passage 2", "[2] passage 3", "[3] passage 4"]
    assert [m["content"] for m in gen.prompts[1][3:8:2]] == ["[1] passage 0", "[2] passage 1", "[3] passage 4"]
    assert ranker.stats == {"windows": 2, "parse_failures": 0, "partial": 1}


def test_rankgpt_garbage_falls_back_and_is_counted():
    gen = Scripted(["no idea", "[2] > [1] > [3]"])
    ranker = RankGPTRanker(gen, window=3, step=2)
    run = ranker.rank([_example(5)])
    # first window kept as is; second swaps d0 and d1
    assert sorted(run["q"], key=run["q"].get, reverse=True) == ["d1", "d0", "d2", "d3", "d4"]
    assert ranker.stats == {"windows": 2, "parse_failures": 1, "partial": 0}


def test_rankgpt_batches_examples_and_repeats_passes():
    # q1 has 4 docs (windows (1,4), (0,2)); q2 has 2 docs (one window (0,2)); two passes
    replies = ["[3] > [2] > [1]", "[2] > [1]",          # pass 1, window 0 of q1 and q2
               "[1] > [2]",                              # pass 1, window 1 of q1
               "[1] > [2] > [3]", "[2] > [1]",          # pass 2, window 0
               "[2] > [1]"]                              # pass 2, window 1 of q1
    gen = Scripted(replies)
    run = RankGPTRanker(gen, window=3, step=2, passes=2).rank([_example(4, "q1"), _example(2, "q2")])
    assert gen.batches == [2, 1, 2, 1]
    # q1: d0 d1 d2 d3 -> (1,4) reversed: d0 d3 d2 d1 -> (0,2) kept -> pass 2: (1,4) kept -> (0,2) swapped
    assert sorted(run["q1"], key=run["q1"].get, reverse=True) == ["d3", "d0", "d2", "d1"]
    assert sorted(run["q2"], key=run["q2"].get, reverse=True) == ["d0", "d1"]      # swapped twice


def test_rankgpt_first_stage_input_order_and_titles():
    docs = [Doc("a", "text a", title="T"), Doc("b", "text b")]
    ex = Example("q", "?", docs, meta={"first_stage": {"a": 1.0, "b": 2.0}})
    gen = Scripted(["[1] > [2]"])
    run = RankGPTRanker(gen, window=20, step=10, input_order="first_stage").rank([ex])
    assert gen.prompts[0][3]["content"] == "[1] text b"
    assert gen.prompts[0][5]["content"] == "[2] Title: T Content: text a"
    assert run == {"q": {"b": 2.0, "a": 1.0}}
    with pytest.raises(ValueError, match="needs meta\\['first_stage'\\]"):
        RankGPTRanker(gen, input_order="first_stage").rank([_example(2)])


class Oracle(Generator):
    """Test double that knows the answer: ranks the passage reading "passage 0" first, others in order."""

    def generate(self, prompts, max_new_tokens):
        replies = []
        for msgs in prompts:
            shown = [m["content"] for m in msgs[3:-1:2]]            # "[i] passage k"
            best = [i for i, text in enumerate(shown, 1) if text.endswith(" passage 0")]
            replies.append(" > ".join(f"[{i}]" for i in best + [i for i in range(1, len(shown) + 1)
                                                                    if i not in best]))
        return replies


@pytest.mark.parametrize("window,step", [(3, 3), (3, 5), (20, 20)])
def test_rankgpt_step_not_below_window_is_refused(window, step):
    with pytest.raises(ValueError, match=f"step={step} must be smaller than window={window}"):
        RankGPTRanker(Scripted([]), window=window, step=step)
    with pytest.raises(ValueError, match="must be smaller than window"):
        sliding_windows(10, window, step)


def test_rankgpt_overlapping_windows_carry_the_best_passage_to_the_top():
    # the best passage starts last of 7 (given order reversed); windows (4,7) (2,5) (0,3) carry it up
    docs = [Doc(f"d{i}", f"passage {i}") for i in reversed(range(7))]
    run = RankGPTRanker(Oracle(), window=3, step=2).rank([Example("q", "which one?", docs)])
    assert max(run["q"], key=run["q"].get) == "d0" and run["q"]["d0"] == 7.0
