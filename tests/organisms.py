"""Offline model organisms for tests: tiny random decoders of each family with a trained BPE
tokenizer, and the planted-retrieval-head model (shared/notes/offline-models.md, recipe B1)."""
from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (AutoModelForCausalLM, LlamaConfig, MistralConfig, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen3Config)

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CORPUS = [
    "Here are some paragraphs: Please find information that are relevant to the following query.",
    "Marta Novak lives in Oslo and works as a pilot. John Reyes owns a parrot in Lima.",
    "Which city does Aiko live in? What pet does Lars have? Query: N/A assistant user system",
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France.",
    "[1] [2] [3] [4] [5] [6] [7] [8] [9] 0 1 2 3 4 5 6 7 8 9 title text paragraph document",
]


def bpe_tokenizer(specials=("<|im_start|>", "<|im_end|>"), chat_template=CHATML, bos=None):
    """A byte-level BPE tokenizer trained in milliseconds on a few lines (real offsets)."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<pad>", "<eos>", *specials],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                   bos_token=bos)
    fast.chat_template = chat_template
    return fast


def llama3_tokenizer():
    return bpe_tokenizer(specials=LLAMA3_SPECIALS, chat_template=None, bos="<|begin_of_text|>")


FAMILIES = {
    "llama": lambda **kw: LlamaConfig(**kw),
    "qwen2": lambda **kw: Qwen2Config(**kw),
    "qwen3": lambda **kw: Qwen3Config(head_dim=16, **kw),
    "mistral": lambda **kw: MistralConfig(**{"sliding_window": None, **kw}),
}


def tiny_model(family: str, vocab_size: int, seed: int = 0, sharpen: float | None = None, **overrides):
    """4 layers, hidden 128, 8 query heads over 2 KV heads (GQA x4), q/k scaled for peaked attention."""
    torch.manual_seed(seed)
    sharpen = sharpen or (2.0 if family == "qwen3" else 6.0)
    kw = dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
              num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=2048)
    kw.update(overrides)
    model = AutoModelForCausalLM.from_config(FAMILIES[family](**kw), attn_implementation="eager")
    for layer in model.model.layers:
        attn = layer.self_attn
        if hasattr(attn, "q_norm"):     # Qwen3's q/k RMSNorm cancels projection scaling; its
            attn.q_norm.weight.data *= sharpen ** 0.5     # normed q/k are already peaked
            attn.k_norm.weight.data *= sharpen ** 0.5
        else:
            attn.q_proj.weight.data *= sharpen
            attn.k_proj.weight.data *= sharpen
    return model.eval()


def word_tokenizer(n_words: int):
    """Whitespace word-level tokenizer: words w0..w{n-1} are tokens 0..n-1, other words -> <unk>."""
    vocab = {f"w{i}": i for i in range(n_words)}
    for extra in ("<unk>", "<eos>", "<pad>"):
        vocab[extra] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>",
                                   pad_token="<pad>", chat_template=CHATML)


def planted_model(vocab_size: int, layer: int = 0, head: int = 1, alpha: float = 4.0,
                  max_len: int = 512, seed: int = 0):
    """Llama with one head whose q.k measures token identity: each query token attends to earlier
    copies of itself. RoPE is made near-identity on the dims used (rope_theta 1e80)."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                      rope_theta=1e80, max_position_embeddings=max_len)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    hd = cfg.hidden_size // cfg.num_attention_heads
    inv_freq = model.model.rotary_emb.inv_freq[: hd // 2].double()
    pairs = [i for i in range(1, hd // 2) if float(inv_freq[i]) * max_len < 1e-2]
    dims = pairs + [i + hd // 2 for i in pairs]
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((cfg.hidden_size, len(dims))))
    proj = torch.tensor(basis.T, dtype=torch.float32) * alpha          # [n_dims, hidden]
    attn = model.model.layers[layer].self_attn
    with torch.no_grad():
        for weight in (attn.q_proj.weight, attn.k_proj.weight):
            rows = weight[head * hd:(head + 1) * hd]
            rows.zero_()
            rows[dims] = proj
    return model


# Planted-head retrieval data: docs of random words, each with a unique 2-word key; query = gold key.
N_DOCS, DOC_LEN = 6, 8
KEYS, FILLER = range(0, 100), range(100, 200)


def make_examples(n, seed):
    from qrexp.types import Doc, Example
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        keys = rng.choice(list(KEYS), size=(N_DOCS, 2), replace=False)
        docs = []
        for d in range(N_DOCS):
            filler = rng.choice(list(FILLER), size=DOC_LEN - 2)
            docs.append(Doc(f"d{d}", " ".join(f"w{t}" for t in [*keys[d], *filler])))
        gold = int(rng.integers(N_DOCS))
        out.append(Example(f"q{i}", f"w{keys[gold][0]} w{keys[gold][1]}", docs, {f"d{gold}"}))
    return out
