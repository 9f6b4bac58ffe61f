"""The per-example score cache is keyed by what was computed (issue 9, section 1): the prompt token
ids scored and the loaded weights, so an edited chat template or tokenizer with identical settings,
or other weights, never reuse old scores; a cached tensor that does not fit the prompt is not served."""
import copy

import pytest
import torch

from organisms import CHATML, bpe_tokenizer, tiny_model
from qrexp import QRRetriever
from qrexp.engine.forward import prepare_model
from qrexp.engine.models import model_fingerprint, weights_fingerprint
from qrexp.engine.scorer import ExampleScorer
from qrexp.engine.score_cache import ScoreCache
from qrexp.types import Doc, Example

EXAMPLES = [Example(f"q{i}", q, (Doc("a", "Marta Novak lives in Oslo."), Doc("b", "John Reyes owns a parrot.")),
                    gold={"a"}) for i, q in enumerate(["Which city does Marta live in?", "What pet does John have?"])]
EDITED = CHATML.replace("<|im_start|>assistant\n", "<|im_start|>assistant\nAnswer:")


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", len(bpe_tokenizer()))


def _scorer(model, cache, template=CHATML):
    tok = bpe_tokenizer(chat_template=template)
    return ExampleScorer(QRRetriever(model, tok), cache)


def _direct(model, template, ex):
    """Document token scores (calibrated, raw) [2, L, H, T_doc] straight from the retriever, no cache."""
    r = QRRetriever(model, bpe_tokenizer(chat_template=template))
    real, null, prompt = r.raw_token_scores(ex.query, ex.docs, ex.qid)
    idx = torch.cat([torch.arange(s, e) for s, e in prompt.doc_spans])
    return torch.stack([real[..., idx] - null[..., idx], real[..., idx]])


def _tokens(scorer, ex):
    """The scorer's document token scores [2, L, H, T_doc]: from the cache, or one forward pass."""
    scorer.headset_scores(ex, None)                   # paper aggregation reads (or makes) them
    return scorer.doc_token_scores(ex)


def _near(got, exact):
    """float16 rows with a power-of-two scale: within 2^-11 of each row's largest value."""
    return bool(((got - exact).abs() <= 2 ** -11 * exact.abs().amax(-1, keepdim=True)).all())


def test_edited_chat_template_never_reuses_old_scores(model, tmp_path):
    cache = ScoreCache(tmp_path)
    old = _scorer(model, cache)
    first = [_tokens(old, ex) for ex in EXAMPLES]
    assert old.forwards == 2
    again = _scorer(model, cache)
    assert all(torch.equal(a, _tokens(again, ex)) for a, ex in zip(first, EXAMPLES))
    assert again.forwards == 0                                       # same tokens: served

    edited = _scorer(model, cache, EDITED)                           # identical settings
    assert edited.retriever.settings_dict() == old.retriever.settings_dict()
    for ex in EXAMPLES:
        assert edited.prompt(ex).input_ids != old.prompt(ex).input_ids
        assert edited.token_scores_key(ex) != old.token_scores_key(ex)
        assert _near(_tokens(edited, ex), _direct(model, EDITED, ex))
    assert edited.forwards == 2                                       # recomputed, not reused


def test_other_weights_give_other_keys(model, tmp_path):
    cache = ScoreCache(tmp_path)
    base = _scorer(model, cache)
    ex = EXAMPLES[0]
    _tokens(base, ex)
    twin = copy.deepcopy(model)
    assert weights_fingerprint(twin) == weights_fingerprint(model)
    with torch.no_grad():
        twin.model.layers[0].self_attn.q_proj.weight.mul_(1.01)
    assert weights_fingerprint(twin) != weights_fingerprint(model)
    other = _scorer(twin, cache)
    assert other.token_scores_key(ex) != base.token_scores_key(ex)
    assert _near(_tokens(other, ex), _direct(twin, CHATML, ex))
    assert other.forwards == 1


def test_weights_fingerprint_ignores_attention_switch_and_sees_dtype(tmp_path):
    tok = bpe_tokenizer()
    a, b = tiny_model("llama", len(tok), seed=0), tiny_model("llama", len(tok), seed=0)
    before = weights_fingerprint(a)
    prepare_model(a)                                                # switches _attn_implementation
    assert weights_fingerprint(a) == before == weights_fingerprint(b)
    assert weights_fingerprint(tiny_model("llama", len(tok), seed=1)) != before
    assert weights_fingerprint(copy.deepcopy(b).to(torch.bfloat16)) != before
    ident = model_fingerprint(a)
    assert ident["weights"] == before and ident["layers"] == 4 and ident["heads"] == 8


def test_cached_tensor_of_wrong_length_is_recomputed(model, tmp_path):
    cache = ScoreCache(tmp_path)
    scorer = _scorer(model, cache)
    ex = EXAMPLES[1]
    right = _tokens(scorer, ex)
    key = scorer.token_scores_key(ex)
    cache.put_tokens(key, right[..., :-3])                           # a short tensor under the key
    fresh = _scorer(model, cache)
    with pytest.warns(RuntimeWarning, match="the prompt needs"):
        got = _tokens(fresh, ex)
    assert torch.equal(got, right) and fresh.forwards == 1


def test_same_qid_other_content_is_not_served_from_memory(model, tmp_path):
    """The scorer's in-memory prompts are keyed by content: a reused qid with other docs is rebuilt."""
    scorer = _scorer(model, ScoreCache(tmp_path))
    a = EXAMPLES[0]
    b = Example(a.qid, a.query, (Doc("c", "Paris is the capital of France."),) + a.docs, gold={"c"})
    first, second = _tokens(scorer, a), _tokens(scorer, b)
    assert scorer.prompt(b).doc_ids == ("c", "a", "b") and scorer.forwards == 2
    assert first.shape[-1] < second.shape[-1]
    assert _near(second, _direct(model, CHATML, b))


@pytest.mark.parametrize("n,k", [(28311552, 256), (7, 256), (1, 256), (1000, 2)])
def test_sampled_positions_stay_inside_large_tensors(n, k):
    """SmolLM2's embedding has 28311552 values: float positions rounded past the end there."""
    from qrexp.engine.models import sample_positions
    pos = sample_positions(n, k)
    assert len(pos) == min(n, k) and int(pos[0]) == 0 and int(pos[-1]) == n - 1
    assert bool((pos[1:] > pos[:-1]).all())
