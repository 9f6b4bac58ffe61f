"""Prefix KV reuse and cached generation on sliding-window / mixed-layer models (issue 9, section 1):
Mistral, Qwen2 use_sliding_window, Qwen3 / Gemma 3 layer_types (local + global), Phi-3.

The right values come from one fresh eager forward over the whole prompt (output_attentions): the
query-span rows' mean attention over the prefix, and each step's last-row argmax for generation.
"""
import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache, Gemma3TextConfig, Phi3Config

from organisms import bpe_tokenizer, tiny_model
from qrexp.engine.forward import check_cache, check_key_axis, fresh_pass, prefix_passes, prepare_model
from qrexp.engine.generate import greedy_generate
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.scoring import doc_scores_per_head
from qrexp.types import Doc

TOL = 1e-5
WINDOW = 16
DOCS = [Doc("d0", "Marta Novak lives in Oslo and works as a pilot."),
        Doc("d1", "John Reyes owns a parrot in Lima."),
        Doc("d2", "The quick brown fox jumps over the lazy dog."),
        Doc("d3", "Paris is the capital of France.")]
QUERY = "Which city does Marta Novak live in? What pet does John have?"

SLIDING = {
    "mistral": dict(family="mistral", sliding_window=WINDOW),
    "qwen2-use_sliding_window": dict(family="qwen2", use_sliding_window=True, sliding_window=WINDOW,
                                     max_window_layers=2),          # layers 0-1 full, 2-3 sliding
    "qwen3-layer_types": dict(family="qwen3", sliding_window=WINDOW, use_sliding_window=True,
                              layer_types=["sliding_attention", "full_attention"] * 2),
    "phi3": dict(family="phi3"),                                        # sliding_window, no layer_types
    "gemma3-local-global": dict(family="gemma3"),                       # local / global layers
}
SHAPE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=8,
             num_key_value_heads=2, max_position_embeddings=2048, sliding_window=WINDOW)


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def _model(tok, spec):
    """A tiny model of the family: tests/organisms for Mistral/Qwen, configs built here for Phi-3
    (fused qkv projection) and Gemma 3 text (local and global layers), random weights."""
    spec = dict(spec)
    family = spec.pop("family")
    if family == "phi3":
        cfg = Phi3Config(vocab_size=len(tok), pad_token_id=0, eos_token_id=1, bos_token_id=None, **SHAPE)
    elif family == "gemma3":
        cfg = Gemma3TextConfig(vocab_size=len(tok), head_dim=16, **SHAPE,
                               layer_types=["sliding_attention", "full_attention"] * 2)
    else:
        return tiny_model(family, len(tok), **spec)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()


def _eager_span_means(model, ids, span):
    """[L, H, T] mean attention of the span rows, from an eager full forward (before prepare_model)."""
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    s, e = span
    return torch.stack([a[0, :, s:e].mean(1) for a in out.attentions])


@pytest.mark.parametrize("name", sorted(SLIDING))
def test_prefix_reuse_equals_fresh_eager_forward(name, tok):
    model = _model(tok, SLIDING[name])
    assert "sliding_attention" in (getattr(model.config, "layer_types", None) or ["sliding_attention"])
    retriever_probe = QRRetriever(tiny_model("llama", len(tok)), tok)
    prompt = retriever_probe.build_prompt(QUERY, DOCS)
    null = retriever_probe.build_prompt("N/A", DOCS)
    c = prompt.cont_start
    assert 100 <= len(prompt.input_ids) <= 120 and c > 3 * WINDOW          # the instance size
    ref_real = _eager_span_means(model, prompt.input_ids, prompt.query_span)[..., :c]
    ref_null = _eager_span_means(model, null.input_ids, null.query_span)[..., :c]

    types = getattr(model.config, "layer_types", None) or ["sliding_attention"] * 4
    cut = prompt.query_span[0] - WINDOW + 1                              # keys no span row sees
    for layer, kind in enumerate(types):                                 # the reference is windowed
        assert bool((ref_real[layer, :, :cut] == 0).all()) == (kind == "sliding_attention"), layer

    retriever = QRRetriever(model, tok, calibrate=True, mask_sigma=None)
    real, nul, got = retriever.raw_token_scores(QUERY, DOCS)
    assert got.input_ids == prompt.input_ids
    assert real.shape == (4, 8, c) and nul.shape == (4, 8, c)            # key axis = whole prefix
    assert (real - ref_real).abs().max() < TOL
    assert (nul - ref_null).abs().max() < TOL
    docs = doc_scores_per_head(real - nul, prompt.doc_spans, None)
    ref_docs = doc_scores_per_head(ref_real - ref_null, prompt.doc_spans, None)
    assert (docs - ref_docs).abs().max() < TOL


def test_mistral_window_puts_exactly_zero_outside_it(tok):
    """Every layer of a sliding model sees only the last WINDOW keys of each query row, so a doc
    that ends before (first query row - WINDOW + 1) gets exactly 0, as in a fresh full pass."""
    model = _model(tok, SLIDING["mistral"])
    retriever = QRRetriever(model, tok, calibrate=False, mask_sigma=None)
    real, _, prompt = retriever.raw_token_scores(QUERY, DOCS)
    first_row = prompt.query_span[0]
    outside = [i for i, (_, e) in enumerate(prompt.doc_spans) if e <= first_row - WINDOW + 1]
    assert outside == [0, 1]
    docs = doc_scores_per_head(real, prompt.doc_spans, None).sum((1, 2))
    assert (docs[outside] == 0).all() and docs[3] > 0


def test_sliding_cache_would_be_short_and_is_refused(tok):
    """transformers' config-shaped cache keeps only the window of the prefix: the check catches it."""
    model = _model(tok, SLIDING["mistral"])
    prepare_model(model)
    prefix = list(range(5, 5 + 3 * WINDOW))
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        model(input_ids=torch.tensor([prefix]), cache=cache, use_cache=True, logits_to_keep=1)
    with pytest.raises(RuntimeError, match="sliding-window layer"):
        check_cache(cache, len(prefix), "prefix pass")
    with pytest.raises(RuntimeError, match="captured 57 key positions, expected 58"):
        check_key_axis({0: torch.zeros(8, 57)}, 58, "continuation")


def test_prefix_passes_rows_equal_fresh_pass_on_window_model(tok):
    model = _model(tok, SLIDING["mistral"])
    prepare_model(model)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, len(tok), (90,), generator=g).tolist()
    fresh, _ = fresh_pass(model, ids, (70, 90), early_exit=False, rows=True)
    (out, _), = prefix_passes(model, ids[:70], [(ids[70:], (0, 20))], early_exit=False, rows=True)
    for layer in range(4):
        assert out[layer].shape == fresh[layer].shape == (8, 20, 90)
        assert (out[layer] - fresh[layer]).abs().max() < TOL
        assert (out[layer][..., : 70 - WINDOW + 1] == 0).all()


@pytest.mark.parametrize("name", ["mistral", "qwen2-use_sliding_window", "gemma3-local-global"])
def test_generation_argmax_indexes_the_whole_prompt(name, tok):
    """Each step's argmax over keys equals the eager full forward's over prompt + generated tokens."""
    model = _model(tok, SLIDING[name])
    g = torch.Generator().manual_seed(5)
    prompt = torch.randint(3, len(tok), (3 * WINDOW,), generator=g).tolist()
    with torch.no_grad():                                   # eager greedy reference, no cache
        ids = list(prompt)
        for _ in range(6):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
        eager = model(torch.tensor([ids]), output_attentions=True)
    trace = greedy_generate(model, tok, prompt, 6, capture_last_row=True, stop_ids=[])
    assert trace.token_ids == ids[len(prompt):]
    for t in range(6):
        row = len(prompt) - 1 + t
        ref = torch.stack([a[0, :, row, : row + 1].argmax(-1) for a in eager.attentions])
        assert torch.equal(trace.argmax[t], ref), f"step {t}"


def test_unsupported_layer_types_are_refused(tok):
    model = tiny_model("llama", len(tok), num_hidden_layers=2)
    model.config.layer_types = ["full_attention", "linear_attention"]
    with pytest.raises(NotImplementedError, match="linear_attention"):
        prepare_model(model)
