"""The one chat renderer (qrexp.engine.chat): message lists and plain text rendered through the
tokenizer's template exactly as a hand-written ChatML string; every caller gets the same tokens."""
import pytest

from organisms import bpe_tokenizer, tiny_model
from qrexp.engine.chat import as_messages, chat_prompt_ids, render_chat, user_turn
from qrexp.evals.llm import HFGenerator
from qrexp.heads.niah import NiahCase, build_niah_prompt


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def test_render_chat_equals_hand_written_chatml(tok):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is Oslo?"}]
    assert render_chat(tok, msgs) == ("<|im_start|>system\nBe brief.<|im_end|>\n"
                                      "<|im_start|>user\nWhere is Oslo?<|im_end|>\n<|im_start|>assistant\n")
    assert render_chat(tok, "Where is Oslo?") == render_chat(tok, user_turn("Where is Oslo?")) == \
        "<|im_start|>user\nWhere is Oslo?<|im_end|>\n<|im_start|>assistant\n"
    assert user_turn("x") == [{"role": "user", "content": "x"}]


def test_chat_ids_are_the_same_for_every_caller(tok):
    msgs = [{"role": "user", "content": "Paris is the capital of France."}]
    ids = chat_prompt_ids(tok, msgs)
    assert tok.decode(ids) == render_chat(tok, msgs)
    assert ids == list(tok(render_chat(tok, msgs), add_special_tokens=False)["input_ids"])
    gen = HFGenerator(tiny_model("llama", len(tok), num_hidden_layers=1), tok)
    assert gen.encode(msgs) == ids                                  # QA / judge / RankGPT prompts
    case = NiahCase("The quick brown fox. Marta lives in Oslo. The lazy dog.", "Marta lives in Oslo.",
                    "Where does Marta live?", "Oslo")
    prompt = build_niah_prompt(tok, case, template="{context} {question}")
    assert prompt.ids == chat_prompt_ids(tok, f"{case.context} {case.question}")   # NIAH prompts


def test_as_messages_checks_fields():
    assert as_messages([{"role": "user", "content": "u", "name": "x"}]) == [{"role": "user", "content": "u"}]
    with pytest.raises(TypeError, match="message 1 must be a dict"):
        as_messages([{"role": "user", "content": "u"}, {"role": "user"}])
    with pytest.raises(TypeError, match="non-empty list"):
        as_messages([])
