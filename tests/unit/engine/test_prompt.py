"""Prompts and spans: docs decode back, the query span ends the prompt, reference = paper string."""
import pytest

from organisms import bpe_tokenizer, llama3_tokenizer
from qrexp.engine.prompt import PromptBuilder, PromptSettings
from qrexp.types import Doc

DOCS = [Doc("a", "Marta Novak lives in Oslo.", "Marta"), Doc("b", "John Reyes owns a parrot."),
        Doc("c", "Paris is the capital of France.", "Paris")]
QUERY = "Which city does Marta live in?"


def test_reference_prompt_is_the_paper_code_string_for_llama3():
    builder = PromptBuilder(llama3_tokenizer(), PromptSettings("reference"))
    p = builder.build(QUERY, [{"idx": d.doc_id, "title": d.title, "paragraph_text": d.text} for d in DOCS])
    expected = ("<|start_header_id|>user<|end_header_id|> Here are some paragraphs: \n\n"
                "[1] Marta\nMarta Novak lives in Oslo. \n\n[2] John Reyes owns a parrot. \n\n"
                "[3] Paris\nParis is the capital of France. \n\n"
                "Please find information that are relevant to the following query in the paragraphs above."
                " \n\nQuery: Which city does Marta live in?<|eot_id|><|start_header_id|>assistant<|end_header_id|>")
    assert p.text == expected
    assert builder.family == "llama3"
    tok = builder.tokenizer
    assert p.input_ids[0] == tok.convert_tokens_to_ids("<|begin_of_text|>")   # BOS as the paper code
    assert tok.decode(p.input_ids[p.query_span[0]:p.query_span[1]]).startswith("Please find")
    assert p.query_span[1] == len(p.input_ids)


@pytest.mark.parametrize("style,tok_fn", [("chat", bpe_tokenizer), ("reference", bpe_tokenizer),
                                          ("reference", llama3_tokenizer)])
def test_spans_decode_back_to_documents(style, tok_fn):
    tok = tok_fn()
    p = PromptBuilder(tok, PromptSettings(style)).build(QUERY, DOCS)
    for i, (doc, (s, e)) in enumerate(zip(DOCS, p.doc_spans)):
        body = doc.text if doc.title is None else f"{doc.title}\n{doc.text}"
        assert tok.decode(p.input_ids[s:e]).strip() == f"[{i + 1}] {body}"
    assert p.query_span[1] == len(p.input_ids) and p.cont_start == p.query_span[0]
    assert p.doc_spans[-1][1] <= p.query_span[0]
    assert p.doc_ids == ("a", "b", "c")


def test_query_only_span(chat_tokenizer):
    p = PromptBuilder(chat_tokenizer, PromptSettings("chat", "query")).build(QUERY, DOCS)
    assert chat_tokenizer.decode(p.input_ids[p.query_span[0]:p.query_span[1]]).strip() == QUERY
    assert p.query_span[1] < len(p.input_ids)                # the chat suffix is not part of it


def test_chatml_reference_family(chat_tokenizer):
    p = PromptBuilder(chat_tokenizer, PromptSettings("reference")).build("q?", DOCS[:1])
    assert p.text == ("<|im_start|>user Here are some paragraphs:\n\n[1] Marta\nMarta Novak lives in Oslo."
                      "\n\nPlease find information that are relevant to the following query in the "
                      "paragraphs above.\n\nQuery: q?<|im_end|>\n<|im_start|>assistant")


def test_too_long_prompt_is_a_clear_error(chat_tokenizer):
    builder = PromptBuilder(chat_tokenizer, PromptSettings(), max_length=20)
    with pytest.raises(ValueError, match=r"example q7: prompt has \d+ tokens, more than .* window of 20"):
        builder.build(QUERY, DOCS, qid="q7")


def test_bad_settings_and_inputs(chat_tokenizer):
    with pytest.raises(ValueError, match="prompt_style"):
        PromptSettings("fancy")
    with pytest.raises(ValueError, match="query_span"):
        PromptSettings("chat", "everything")
    builder = PromptBuilder(chat_tokenizer)
    with pytest.raises(ValueError, match="example q1: no documents"):
        builder.build(QUERY, [], qid="q1")
    with pytest.raises(ValueError, match="lacks field"):
        builder.build(QUERY, [{"title": "x"}])


def test_reference_style_needs_a_known_family():
    from organisms import word_tokenizer
    with pytest.raises(ValueError, match="use prompt_style='chat'"):
        PromptBuilder(word_tokenizer(10), PromptSettings("reference"))


# A Llama-3.x-style chat template: message content goes through Jinja's ``trim`` (as Meta's does).
LLAMA3_TRIM = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
               "\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
               "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


def test_chat_template_that_trims_gets_the_query_stripped():
    from organisms import LLAMA3_SPECIALS
    tok = bpe_tokenizer(specials=LLAMA3_SPECIALS, chat_template=LLAMA3_TRIM, bos="<|begin_of_text|>")
    # the premise: this template does not render a body ending in whitespace verbatim
    raw = tok.apply_chat_template([{"role": "user", "content": "x " + QUERY + "  \n"}], tokenize=False)
    assert QUERY + "  \n" not in raw and QUERY + "<|eot_id|>" in raw
    builder = PromptBuilder(tok, PromptSettings("chat", query_span="query"))
    padded = builder.build(" " + QUERY + " \t\n", DOCS, "q1")         # raised before the fix
    clean = builder.build(QUERY, DOCS, "q1")
    assert padded == clean
    body = builder._body(QUERY, [Doc.from_any(d) for d in DOCS], "\n\n", "Here are some paragraphs:")[0]
    expected = tok.apply_chat_template([{"role": "user", "content": body}], tokenize=False,
                                       add_generation_prompt=True)
    assert padded.text == expected                                      # exactly what the template renders
    s, e = padded.query_span
    assert tok.decode(padded.input_ids[s:e]).strip() == QUERY
    assert padded.text.endswith(QUERY + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_chat_template_that_rewrites_the_body_is_a_clear_error():
    tok = bpe_tokenizer(chat_template="{% for m in messages %}{{ m['content'] | upper }}{% endfor %}")
    with pytest.raises(ValueError, match="prompt_style=reference"):
        PromptBuilder(tok, PromptSettings("chat")).build(QUERY, DOCS)
