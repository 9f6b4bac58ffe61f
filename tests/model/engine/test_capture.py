"""The capture equals eager attention (fp32, 1e-5) on every supported family, incl. GQA."""
import pytest
import torch

from organisms import FAMILIES, bpe_tokenizer, tiny_model
from qrexp.engine.capture import _ACTIVE, span_attention
from qrexp.engine.forward import fresh_pass, prepare_model, stack_layers

TOL = 1e-5


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def _ids(n, vocab, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n,), generator=g).tolist()


def _eager(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]), output_attentions=True)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_capture_matches_eager_rows(family, tok):
    model = tiny_model(family, len(tok))
    ids = _ids(93, len(tok))
    eager = _eager(model, ids)
    prepare_model(model)
    span = (80, 93)
    out, logits = fresh_pass(model, ids, span, heads=None, early_exit=False, rows=True)
    for layer, attn in enumerate(eager.attentions):
        ref = attn[0, :, span[0]:span[1]]
        assert out[layer].shape == ref.shape
        assert (out[layer] - ref).abs().max() < TOL, f"layer {layer}"
        assert (out[layer][..., span[1]:] == 0).all()                       # no mass on the future
        torch.testing.assert_close(out[layer].sum(-1), torch.ones_like(ref[..., 0]), atol=1e-5, rtol=0)
    assert (logits - eager.logits[0, -1]).abs().max() < TOL               # output unchanged


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_mean_rows_subset_heads_and_early_exit(family, tok):
    model = tiny_model(family, len(tok))
    ids = _ids(70, len(tok), seed=3)
    eager = _eager(model, ids)
    prepare_model(model)
    heads = {1: [0, 5, 7], 2: [3]}                                         # heads of different KV groups
    out, logits = fresh_pass(model, ids, (60, 70), heads=heads, early_exit=True)
    assert logits is None and set(out) == {1, 2}                           # stopped after layer 2
    for layer, hs in heads.items():
        ref = eager.attentions[layer][0, hs, 60:70].mean(1)
        assert (out[layer] - ref).abs().max() < TOL
    dense = stack_layers(out, heads, 4, 8)
    assert dense.shape == (4, 8, 70) and dense[0].abs().sum() == 0


def test_sliding_window_uses_the_explicit_mask(tok):
    model = tiny_model("mistral", len(tok), sliding_window=16)
    ids = _ids(60, len(tok), seed=4)
    eager = _eager(model, ids)
    prepare_model(model)
    out, _ = fresh_pass(model, ids, (50, 60), heads=None, early_exit=False, rows=True)
    for layer, attn in enumerate(eager.attentions):
        assert (out[layer] - attn[0, :, 50:60]).abs().max() < TOL
        assert (out[layer][..., :50 - 16] == 0).all()


def test_half_precision_model_captures_in_fp32(tok):
    model = tiny_model("llama", len(tok))
    ids = _ids(40, len(tok))
    prepare_model(model)
    model.to(torch.bfloat16)
    out, _ = fresh_pass(model, ids, (30, 40), heads=None, early_exit=False)
    assert all(x.dtype == torch.float32 for x in out.values())
    torch.testing.assert_close(out[0].sum(-1), torch.ones(8), atol=1e-5, rtol=0)


def test_span_attention_row_chunking_is_exact(monkeypatch):
    import qrexp.engine.capture as cap
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 8, 30, 16, generator=g), torch.randn(1, 2, 30, 16, generator=g)
    full = span_attention(q, k, None, 0.25, (5, 30), list(range(8)))
    monkeypatch.setattr(cap, "ROW_BLOCK_BYTES", 4 * 30 * 4 * 3)          # 3 rows per block
    chunked = span_attention(q, k, None, 0.25, (5, 30), list(range(8)))
    assert (full - chunked).abs().max() < 1e-6


def test_model_not_routed_through_interface_is_refused(tok):
    model = tiny_model("llama", len(tok), num_hidden_layers=2)
    prepare_model(model)
    model.model.layers[1].self_attn.forward = _plain_forward(model.model.layers[1].self_attn)
    model._qrexp_checked = False
    with pytest.raises(NotImplementedError, match="do not call the attention interface"):
        prepare_model(model)


def _plain_forward(attn):
    """Layer forward that hides the active capture, as a model with its own attention code would."""
    original = attn.forward

    def forward(*args, **kwargs):
        saved = _ACTIVE.set(None)
        try:
            return original(*args, **kwargs)
        finally:
            _ACTIVE.reset(saved)
    return forward


def test_soft_capping_is_refused(tok):
    model = tiny_model("llama", len(tok), num_hidden_layers=2)
    model.config.attn_logit_softcapping = 50.0
    with pytest.raises(NotImplementedError, match="soft-capping"):
        prepare_model(model)
