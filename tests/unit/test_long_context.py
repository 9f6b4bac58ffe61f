"""Chunked prefill and batched queries (issue 13, sections 2-3) equal the one-shot, batch-1 path.

References: an eager full forward with output_attentions (the query-span rows' mean attention) for
chunked prefill, and prefix_passes per example (itself pinned to eager in test_capture /
test_sliding_window) for batching; rows and per-head DocScores to 1e-5 in fp32.
"""
import pytest
import torch

from organisms import bpe_tokenizer, tiny_model
from qrexp.engine.batched import batched_prefix_passes
from qrexp.engine.forward import full_cache, prefill, prefix_passes, prepare_model, stack_layers
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.scoring import doc_scores_per_head
from qrexp.types import Doc

TOL = 1e-5
FAMILIES = {"llama": dict(family="llama"), "qwen2": dict(family="qwen2"),
            "mistral-window16": dict(family="mistral", sliding_window=16)}
DOCS = [Doc("d0", "Marta Novak lives in Oslo and works as a pilot."),
        Doc("d1", "John Reyes owns a parrot in Lima."),
        Doc("d2", "The quick brown fox jumps over the lazy dog."),
        Doc("d3", "Paris is the capital of France.")]
EXAMPLES = [("Which city does Marta Novak live in?", DOCS),
            ("What pet does John have?", DOCS[1:3]),
            ("capital of France", DOCS[::-1] + [Doc("d4", "Paris 0 1 2 3 title text.")])]


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def _model(tok, name):
    spec = dict(FAMILIES[name])
    return tiny_model(spec.pop("family"), len(tok), **spec)


@pytest.fixture(scope="module")
def pairs(tok):
    """(real prompt, null prompt) of each example (chat style, same tokenizer for every family)."""
    probe = QRRetriever(tiny_model("llama", len(tok)), tok)
    return [(probe.build_prompt(q, d), probe.build_prompt("N/A", d)) for q, d in EXAMPLES]


def _conts(prompt, null):
    c = prompt.cont_start
    return [(list(p.input_ids[c:]), (p.query_span[0] - c, p.query_span[1] - c)) for p in (prompt, null)]


def _eager(model, ids, span):
    with torch.no_grad():
        att = model(torch.tensor([ids]), output_attentions=True).attentions
    return torch.stack([a[0, :, span[0]:span[1]].mean(1) for a in att])          # [L, H, T]


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("chunk", [7])
def test_chunked_prefill_equals_eager_forward(name, chunk, tok, pairs):
    model = _model(tok, name)
    prompt, null = pairs[0]
    c = prompt.cont_start
    ref = [_eager(model, p.input_ids, p.query_span)[..., :c] for p in (prompt, null)]
    prepare_model(model)
    assert c > 3 * chunk and c % chunk                                  # several chunks, one partial
    got = prefix_passes(model, list(prompt.input_ids[:c]), _conts(prompt, null), early_exit=False,
                        prefill_chunk=chunk)
    one = prefix_passes(model, list(prompt.input_ids[:c]), _conts(prompt, null), early_exit=False)
    dense = [stack_layers(out, None, 4, 8)[..., :c] for out, _ in got]
    for d, r in zip(dense, ref):
        assert (d - r).abs().max() < TOL
    assert (got[0][1] - one[0][1]).abs().max() < 1e-4                   # logits of the real query
    docs = doc_scores_per_head(dense[0] - dense[1], prompt.doc_spans, 2.0)
    ref_docs = doc_scores_per_head(ref[0] - ref[1], prompt.doc_spans, 2.0)
    assert docs.shape == (4, 4, 8) and (docs - ref_docs).abs().max() < TOL


def test_retriever_prefill_chunk_gives_the_same_token_scores(tok, pairs):
    model = _model(tok, "llama")
    prompt, null = pairs[0]
    c = prompt.cont_start
    ref = [_eager(model, p.input_ids, p.query_span)[..., :c] for p in (prompt, null)]
    real, nul, got = QRRetriever(model, tok, prefill_chunk=5).raw_token_scores(*EXAMPLES[0])
    assert got.input_ids == prompt.input_ids
    assert (real - ref[0]).abs().max() < TOL and (nul - ref[1]).abs().max() < TOL


def test_chunked_prefill_fills_the_same_cache_and_checks_its_chunk(tok):
    model = _model(tok, "mistral-window16")
    prepare_model(model)
    ids = torch.randint(3, len(tok), (50,), generator=torch.Generator().manual_seed(1)).tolist()
    one, chunked = full_cache(), full_cache()
    prefill(model, ids, one)
    prefill(model, ids, chunked, chunk=16)
    for a, b in zip(one.layers, chunked.layers):
        assert a.keys.shape == b.keys.shape == (1, 2, 50, 16)
        assert (a.keys - b.keys).abs().max() < TOL and (a.values - b.values).abs().max() < TOL
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        prefill(model, ids, full_cache(), chunk=0)


@pytest.mark.parametrize("name,heads", [(name, None) for name in sorted(FAMILIES)]
                         + [("llama", {1: [0, 3], 2: [5]})])
def test_batched_queries_equal_batch_one(name, heads, tok, pairs):
    model = _model(tok, name)
    prepare_model(model)
    lengths = {p.cont_start for p, _ in pairs}
    assert len(lengths) == 3                                            # real left padding
    items = [(list(p.input_ids[:p.cont_start]), _conts(p, n)) for p, n in pairs]
    early = heads is not None                                           # all heads: run to the logits
    batched = batched_prefix_passes(model, items, heads=heads, early_exit=early)
    for (prompt, _), (prefix, conts), got in zip(pairs, items, batched):
        ref = prefix_passes(model, prefix, conts, heads=heads, early_exit=early)
        c = prompt.cont_start
        for (out, logits), (ref_out, ref_logits), (ids, _) in zip(got, ref, conts):
            assert sorted(out) == sorted(ref_out) == ([0, 1, 2, 3] if heads is None else [1, 2])
            for layer in ref_out:
                assert out[layer].shape == ref_out[layer].shape == (ref_out[layer].shape[0], c + len(ids))
                assert (out[layer] - ref_out[layer]).abs().max() < TOL
            if heads is None:
                assert (logits - ref_logits).abs().max() < 1e-4
            else:
                assert logits is None and ref_logits is None            # early exit after layer 2
        if heads is None:
            real, null = (stack_layers(out, None, 4, 8)[..., :c] for out, _ in got)
            ref_real, ref_null = (stack_layers(out, None, 4, 8)[..., :c] for out, _ in ref)
            docs = doc_scores_per_head(real - null, prompt.doc_spans, 2.0)
            assert (docs - doc_scores_per_head(ref_real - ref_null, prompt.doc_spans, 2.0)).abs().max() < TOL


def test_batched_rows_and_bad_items(tok):
    model = _model(tok, "llama")
    prepare_model(model)
    items = [(list(range(5, 25)), [(list(range(30, 36)), (1, 6))]),
             (list(range(7, 19)), [(list(range(40, 44)), (0, 4)), (list(range(50, 59)), (2, 9))])]
    batched = batched_prefix_passes(model, items, rows=True, early_exit=False)
    for (prefix, conts), got in zip(items, batched):
        ref = prefix_passes(model, prefix, conts, rows=True, early_exit=False)
        for (out, _), (ref_out, _), (_, (s, e)) in zip(got, ref, conts):
            assert out[0].shape == ref_out[0].shape == (8, e - s, ref_out[0].shape[-1])
            assert max((out[k] - ref_out[k]).abs().max() for k in ref_out) < TOL
    with pytest.raises(ValueError, match="non-empty prefix"):
        batched_prefix_passes(model, [([], [([1, 2], (0, 2))])])
