"""The null-query continuation on the cached prefix equals a fresh forward (rows and logits)."""
import pytest
import torch

from organisms import FAMILIES, bpe_tokenizer, tiny_model
from qrexp.engine.forward import fresh_pass, prefix_passes, prepare_model

TOL = 1e-5


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("early_exit", [False, True])
def test_cached_continuations_equal_fresh_forwards(family, early_exit, tok):
    model = tiny_model(family, len(tok))
    prepare_model(model)
    g = torch.Generator().manual_seed(7)
    prefix = torch.randint(0, len(tok), (81,), generator=g).tolist()
    real = torch.randint(0, len(tok), (19,), generator=g).tolist()
    null = torch.randint(0, len(tok), (16,), generator=g).tolist()
    heads = {0: [1, 6], 2: [0, 2, 7]} if early_exit else None
    conts = [(real, (0, 19)), (null, (0, 16)), (real, (3, 19)), (null[:1], (0, 1))]
    cached = prefix_passes(model, prefix, conts, heads=heads, early_exit=early_exit)
    for (ids, (s, e)), (out, logits) in zip(conts, cached):
        fresh, fresh_logits = fresh_pass(model, prefix + ids, (81 + s, 81 + e), heads=heads,
                                         early_exit=early_exit)
        assert set(out) == set(fresh)
        for layer in out:
            assert (out[layer] - fresh[layer]).abs().max() < TOL, (layer, len(ids))
        if early_exit:
            assert logits is None and fresh_logits is None
        else:
            assert (logits - fresh_logits).abs().max() < TOL


def test_without_mask_registration_cached_rows_would_be_wrong(tok):
    """Guards the reason the mask function is registered under the attention name."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from qrexp.engine.capture import ATTN_NAME
    assert ATTN_NAME in ALL_MASK_ATTENTION_FUNCTIONS
