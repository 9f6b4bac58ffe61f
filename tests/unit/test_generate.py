"""Greedy decoding on the cache equals transformers' generate; per-step argmax equals eager
attention recomputed on the full sequence; head masking equals zeroing o_proj columns by hand."""
import pytest
import torch

from organisms import bpe_tokenizer, llama3_tokenizer, tiny_model
from qrexp.engine.chat import chat_prompt_ids, render_chat
from qrexp.engine.generate import greedy_generate, stop_id_set

N_NEW = 10


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def _prompt(tok, n=30, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, len(tok), (n,), generator=g).tolist()   # no <pad>/<eos>/<|im_start|>


def _eager(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]), output_attentions=True)


def _pair(family, tok, **kw):
    """Two identical tiny models: one for qrexp (capture attention), one left eager."""
    ours, ref = tiny_model(family, len(tok), **kw), tiny_model(family, len(tok), **kw)
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))
    return ours, ref


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_tokens_and_argmax_match_eager(family, tok):
    ours, ref = _pair(family, tok)
    prompt = _prompt(tok)
    eos = tok.eos_token_id
    trace = greedy_generate(ours, tok, prompt, N_NEW, capture_last_row=True, stop_ids=[eos])
    with torch.no_grad():
        hf = ref.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                          do_sample=False, max_new_tokens=N_NEW, eos_token_id=eos, pad_token_id=eos)
    assert trace.token_ids == hf[0, len(prompt):].tolist()
    steps = len(trace.token_ids)
    n_layers, n_heads = ref.config.num_hidden_layers, ref.config.num_attention_heads
    assert trace.argmax.shape == (steps, n_layers, n_heads) and trace.argmax.dtype == torch.long
    full = prompt + trace.token_ids
    for t in range(steps):
        seq = full[:len(prompt) + t]                                  # what the step-t query saw
        att = torch.stack(_eager(ref, seq).attentions)[:, 0, :, -1]   # [L, H, T] last query row
        ours_at = att.gather(-1, trace.argmax[t][..., None])[..., 0]
        assert (trace.argmax[t] < len(seq)).all()
        exact = trace.argmax[t] == att.argmax(-1)
        # any mismatch must be a numerical tie (both positions at the row maximum)
        assert exact.all() or (att.max(-1).values - ours_at)[~exact].max() < 1e-6, f"step {t}"
    answer = trace.token_ids[:-1] if trace.stopped else trace.token_ids
    assert trace.text == tok.decode(answer, skip_special_tokens=True)


def test_stops_at_stop_id_and_keeps_it(tok):
    model = tiny_model("llama", len(tok))
    prompt = _prompt(tok, seed=2)
    free = greedy_generate(model, tok, prompt, N_NEW, stop_ids=[])
    assert len(free.token_ids) == N_NEW and not free.stopped
    stop = free.token_ids[3]
    first = free.token_ids.index(stop)
    trace = greedy_generate(model, tok, prompt, N_NEW, stop_ids=[stop])
    assert trace.token_ids == free.token_ids[:first + 1] and trace.stopped
    assert trace.text == tok.decode(free.token_ids[:first], skip_special_tokens=True)
    assert trace.argmax is None and trace.logits is None


def test_head_masking_equals_zeroed_o_proj_columns(tok):
    ours, hand = _pair("llama", tok)
    masked = {0: [1, 6], 2: [3]}
    hd = hand.config.hidden_size // hand.config.num_attention_heads
    with torch.no_grad():
        for layer, heads in masked.items():
            for h in heads:
                hand.model.layers[layer].self_attn.o_proj.weight[:, h * hd:(h + 1) * hd] = 0
    prompt = _prompt(tok, seed=3)
    trace = greedy_generate(ours, tok, prompt, 6, mask_heads=masked, stop_ids=[], keep_logits=True)
    plain = greedy_generate(ours, tok, prompt, 6, stop_ids=[], keep_logits=True)
    full = prompt + trace.token_ids
    for t in range(len(trace.token_ids)):
        ref = _eager(hand, full[:len(prompt) + t]).logits[0, -1]
        assert (trace.logits[t] - ref).abs().max() < 1e-4, f"step {t}"
    assert (trace.logits[0] - plain.logits[0]).abs().max() > 1e-3       # masking did something
    with pytest.raises(ValueError, match="layer 2 head 8 outside"):
        greedy_generate(ours, tok, prompt, 2, mask_heads={2: [8]})


def test_chat_prompt_and_stop_ids(tok):
    text = render_chat(tok, "Where is Oslo?")
    assert text.endswith("<|im_start|>assistant\n") and "Where is Oslo?" in text
    ids = chat_prompt_ids(tok, "Where is Oslo?")
    assert tok.decode(ids) == text
    with pytest.raises(ValueError, match="no chat template"):
        render_chat(llama3_tokenizer(), "hi")
    model = tiny_model("llama", len(tok), num_hidden_layers=1)
    assert stop_id_set(model, tok) == {model.generation_config.eos_token_id, tok.eos_token_id}
    assert stop_id_set(model, tok, [5, 7]) == {5, 7}
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        greedy_generate(model, tok, [1, 2], 0)
