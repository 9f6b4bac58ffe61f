"""score_docs and doc_scores equal a straightforward eager computation of the paper's formula."""
import statistics

import pytest
import torch

from organisms import bpe_tokenizer, tiny_model
from qrexp import QRRetriever
from qrexp.engine.scoring import doc_scores_per_head, headset_doc_scores, masked_span_sum

DOCS = [{"idx": "a", "title": "Oslo", "paragraph_text": "Marta Novak lives in Oslo and works as a pilot."},
        {"idx": "b", "title": None, "paragraph_text": "John Reyes owns a parrot in Lima."},
        {"idx": "c", "title": "Fox", "paragraph_text": "The quick brown fox jumps over the lazy dog."},
        {"idx": "d", "title": None, "paragraph_text": "Paris is the capital of France."}]
QUERY = "Which city does Marta live in?"


def _hand_masked_sum(values, sigma):
    if sigma is None or len(values) < 2:
        return sum(values)
    thr = statistics.mean(values) - sigma * statistics.stdev(values)
    return sum(v for v in values if v > thr)


def _eager_token_scores(model, prompt, null_prompt):
    """Fresh eager forwards of both full prompts; mean over query rows; s - s0 on the prefix."""
    rows = []
    for p in (prompt, null_prompt):
        with torch.no_grad():
            att = model(torch.tensor([p.input_ids]), output_attentions=True).attentions
        s, e = p.query_span
        rows.append(torch.stack([a[0, :, s:e].mean(1) for a in att]).double())   # [L, H, T]
    c = prompt.cont_start
    return rows[0][..., :c] - rows[1][..., :c]


@pytest.fixture(scope="module")
def setup():
    tok = bpe_tokenizer()
    model = tiny_model("llama", len(tok), seed=5)
    eager = tiny_model("llama", len(tok), seed=5)
    return model, eager, tok


@pytest.mark.parametrize("sigma", [2.0, None])
def test_score_docs_equals_eager_formula(setup, sigma):
    model, eager, tok = setup
    heads = [(1, 3), (3, 0), (3, 7), (0, 2)]
    r = QRRetriever(model, tok, heads=heads, mask_sigma=sigma)
    ours = r.score_docs(QUERY, DOCS)
    prompt, null = r.build_prompt(QUERY, DOCS), r.build_prompt("N/A", DOCS)
    ts = _eager_token_scores(eager, prompt, null)
    for doc, (s, e) in zip(DOCS, prompt.doc_spans):
        summed = [sum(float(ts[l, h, t]) for l, h in heads) for t in range(s, e)]
        assert ours[doc["idx"]] == pytest.approx(_hand_masked_sum(summed, sigma), abs=2e-5)


def test_doc_scores_per_head_equal_eager_formula(setup):
    model, eager, tok = setup
    r = QRRetriever(model, tok)
    ds = r.doc_scores(QUERY, DOCS)
    prompt = r.build_prompt(QUERY, DOCS)
    ts = _eager_token_scores(eager, prompt, r.build_prompt("N/A", DOCS))
    assert ds.shape == (4, 4, 8)
    for d, (s, e) in enumerate(prompt.doc_spans):
        for layer, head in [(0, 0), (1, 5), (3, 7)]:
            vals = [float(ts[layer, head, t]) for t in range(s, e)]
            assert float(ds[d, layer, head]) == pytest.approx(_hand_masked_sum(vals, 2.0), abs=2e-6)
    per_head = r.score_docs_per_head(QUERY, DOCS)
    assert torch.equal(per_head["c"], ds[2])


def test_uncalibrated_scores_are_raw_attention_mass(setup):
    model, eager, tok = setup
    r = QRRetriever(model, tok, calibrate=False, mask_sigma=None)
    ds = r.doc_scores(QUERY, DOCS)
    p = r.build_prompt(QUERY, DOCS)
    with torch.no_grad():
        att = eager(torch.tensor([p.input_ids]), output_attentions=True).attentions
    s, e = p.doc_spans[1]
    q0, q1 = p.query_span
    expected = att[2][0, :, q0:q1, s:e].sum(-1).mean(-1)        # [H]
    assert (ds[1, 2] - expected).abs().max() < 1e-5


def test_mask_after_summing_differs_from_summing_masked_heads():
    g = torch.Generator().manual_seed(0)
    ts = torch.rand(2, 3, 40, generator=g)
    ts[0, 0, 5] = -3.0                                            # an outlier in one head only
    spans = [(0, 20), (20, 40)]
    heads = [(0, 0), (1, 2)]
    paper = headset_doc_scores(ts, heads, spans, 2.0)
    per_head = doc_scores_per_head(ts, spans, 2.0)
    summed_per_head = per_head[:, 0, 0] + per_head[:, 1, 2]
    assert not torch.allclose(paper, summed_per_head)
    assert torch.allclose(headset_doc_scores(ts, heads, spans, None),
                          doc_scores_per_head(ts, spans, None)[:, [0, 1], [0, 2]].sum(1))


def test_masked_span_sum_by_hand():
    x = torch.tensor([1.0, 2.0, 3.0, -10.0])
    thr = statistics.mean([1, 2, 3, -10]) - 1.0 * statistics.stdev([1, 2, 3, -10])
    assert thr > -10
    assert float(masked_span_sum(x, 1.0)) == pytest.approx(6.0)
    assert float(masked_span_sum(torch.tensor([4.0]), 2.0)) == 4.0     # a 1-token span is kept


def test_plain_strings_rank_and_duplicate_ids(setup):
    """Plain strings are documents "0", "1", ... (same scores as untitled dicts with those ids);
    rank() orders by score with ties by id; duplicate ids are refused, not collapsed."""
    model, _, tok = setup
    r = QRRetriever(model, tok, heads=[(1, 3), (3, 0)])
    texts = [d["paragraph_text"] for d in DOCS]
    plain = r.score_docs(QUERY, texts)
    as_dicts = r.score_docs(QUERY, [{"idx": str(i), "paragraph_text": t} for i, t in enumerate(texts)])
    assert list(plain) == ["0", "1", "2", "3"] and plain == as_dicts
    ranked = r.rank(QUERY, texts, top_k=3)
    expect = sorted(plain, key=lambda d: (-plain[d], d))[:3]
    assert [x.doc_id for x in ranked] == expect
    assert [x.score for x in ranked] == [plain[d] for d in expect]
    assert [x.text for x in ranked] == [texts[int(d)] for d in expect]
    assert len(r.rank(QUERY, texts)) == 4
    with pytest.raises(ValueError, match=r"duplicate doc ids \['a'\]"):
        r.score_docs(QUERY, [DOCS[0], DOCS[0]])
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        r.rank(QUERY, texts, top_k=0)
