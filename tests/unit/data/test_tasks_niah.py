"""Needle-in-a-haystack generator: hand-computed layout, depths, chunking, determinism."""
import pytest

from qrexp.data.niah import (NEEDLES, Needle, count_words, filler_for_length, filler_sentences, full_context,
                              make_niah, niah_grid)

TINY = Needle("t", "N1 N2", "what?", "N2")


def test_hand_computed_layout():
    # budget 11 - 2 = 9 words: "a b c" (3) + "d e" (2) + "f g h i" (4); the cycled "a b c" would pass it.
    # depth 0.5 of 9 filler words = 4.5: the needle goes after "a b c" (3 <= 4.5 < 5).
    ex = make_niah(["a b c", "d e", "f g h i"], TINY, length=11, depth=0.5, chunk_tokens=5)
    assert [d.text for d in ex.docs] == ["a b c N1 N2", "d e", "f g h i"]
    assert ex.doc_ids == ["c0", "c1", "c2"] and ex.gold == {"c0"}
    assert full_context(ex) == "a b c N1 N2 d e f g h i"
    assert ex.meta["needle_span"] == (6, 11) and ex.meta["needle_span_in_chunk"] == (6, 11)
    assert ex.meta["n_tokens"] == 11 and ex.meta["depth_actual"] == pytest.approx(3 / 9)
    assert ex.query == "what?" and ex.answer == "N2" and ex.qid == "niah-t-L11-D0.5"


def test_depth_extremes_and_spans():
    hay = filler_sentences(40, seed=1)
    first = make_niah(hay, NEEDLES[0], 400, 0.0, chunk_tokens=50)
    last = make_niah(hay, NEEDLES[0], 400, 1.0, chunk_tokens=50)
    assert first.gold == {"c0"} and first.docs[0].text.startswith(NEEDLES[0].needle)
    assert last.gold == {last.doc_ids[-1]} and last.docs[-1].text.endswith(NEEDLES[0].needle)
    for ex in (first, last, make_niah(hay, NEEDLES[1], 400, 0.37, chunk_tokens=50)):
        s, e = ex.meta["needle_span"]
        assert full_context(ex)[s:e] == ex.meta["needle"]
        assert full_context(ex).count(ex.meta["needle"]) == 1
        (gold,) = ex.gold
        cs, ce = ex.meta["needle_span_in_chunk"]
        assert ex.docs[ex.doc_ids.index(gold)].text[cs:ce] == ex.meta["needle"]
        assert 400 - 25 < ex.meta["n_tokens"] <= 400         # filler sentences are under 25 words
        assert all(count_words(d.text) <= 50 for d in ex.docs)


def test_depth_moves_needle_monotonically():
    hay = filler_sentences(60, seed=2)
    starts = [make_niah(hay, NEEDLES[2], 600, d, 80).meta["needle_span"][0] for d in (0, 0.25, 0.5, 0.75, 1)]
    assert starts == sorted(starts) and starts[0] == 0 and len(set(starts)) == 5


def test_custom_token_counter_is_used():
    def chars(text):
        return len(text)
    ex = make_niah(["abcd", "efgh"], Needle("x", "XY", "q", "a"), length=11, depth=1.0, chunk_tokens=4,
                   count_tokens=chars)
    assert [d.text for d in ex.docs] == ["abcd", "efgh", "XY"] and ex.gold == {"c2"}


def test_filler_is_deterministic_natural_text():
    a, b = filler_sentences(30, seed=5), filler_sentences(30, seed=5)
    assert a == b and a != filler_sentences(30, seed=6)
    assert filler_sentences(10, seed=5) == a[:10]
    assert all(s[0].isupper() and s.endswith(".") and 5 <= len(s.split()) <= 25 for s in a)
    long = filler_for_length(500, seed=5)
    assert sum(map(count_words, long)) >= 500 > sum(map(count_words, long[:-1]))
    assert long == filler_sentences(len(long), seed=5)


def test_grid_covers_all_combinations_deterministically():
    grid = niah_grid([200, 400], [0.0, 0.5, 1.0], chunk_tokens=60)
    assert len(grid) == 18 and len({e.qid for e in grid}) == 18
    assert {e.meta["needle_id"] for e in grid} == {"soup", "cat", "pumpkin"}
    assert [e.docs for e in grid] == [e.docs for e in niah_grid([200, 400], [0.0, 0.5, 1.0], chunk_tokens=60)]
    for ex in grid:
        assert ex.meta["needle"] in ex.docs[ex.doc_ids.index(next(iter(ex.gold)))].text


def test_grid_accepts_needles_as_mappings():
    (ex,) = niah_grid([20], [0.25], needles=[{"needle_id": "t", "needle": "N1 N2", "question": "what?",
                                              "answer": "N2"}], haystack=["a b c", "d e"])
    assert ex.qid == "niah-t-L20-D0.25" and ex.answer == "N2" and "N1 N2" in full_context(ex)


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        make_niah(["a b"], TINY, 10, 1.5)
    with pytest.raises(ValueError, match="no room"):
        make_niah(["a b"], TINY, 2, 0.5)
    with pytest.raises(ValueError, match="no text"):
        make_niah([""], TINY, 10, 0.5)
