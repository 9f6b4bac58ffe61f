"""Wu et al.'s NIAH retrieval score: hand-checked copy counting and ROUGE-1 recall, needle location
by char offsets, and a planted copying head (tests/copy_organism.py) that scores 1 while others ~0."""
import numpy as np
import pytest
import torch

from copy_organism import copy_model
from organisms import bpe_tokenizer, word_tokenizer
from qrexp.heads.objectives import rank_heads
from qrexp.engine.generate import GenerationTrace
from qrexp.heads.niah import (NiahCase, as_case, build_niah_prompt, case_from_example, copy_scores,
                              niah_retrieval_scores, rouge1_recall)
from qrexp.data.niah import NEEDLES, make_niah

NEEDLE = " ".join(f"w{i}" for i in range(10, 18))
PLAIN = dict(chat=False, template="{context} {question}")


def test_rouge1_recall_by_hand():
    assert rouge1_recall("Admiral Biscuit, of course.", "Admiral Biscuit") == 1.0
    assert rouge1_recall("the the cat", "the cat sat on the mat") == pytest.approx(3 / 6)
    assert rouge1_recall("SMOKED paprika!", "a spoonful of smoked paprika") == pytest.approx(2 / 5)
    assert rouge1_recall("", "three hundred") == 0.0
    with pytest.raises(ValueError, match="no word tokens"):
        rouge1_recall("x", " ... ")


def test_copy_scores_by_hand():
    prompt = [5, 6, 7, 8, 9, 7, 4]                  # needle = positions 1..4 = tokens 6 7 8 9
    tokens = [6, 7, 7, 9]
    arg = torch.zeros(4, 1, 3, dtype=torch.long)
    arg[:, 0, 0] = torch.tensor([1, 2, 2, 4])       # copies 6@1, 7@2, 7@2 again, 9@4 -> 3 of 4
    arg[:, 0, 1] = torch.tensor([1, 5, 2, 3])       # 6@1; 7@5 outside the needle; 7@2; 8!=9 -> 2
    arg[:, 0, 2] = torch.tensor([0, 8, 3, 6])       # outside / generated position / wrong token -> 0
    trace = GenerationTrace(tokens, "", argmax=arg)
    scores = copy_scores(trace, prompt, (1, 5))
    assert scores.shape == (1, 3)
    assert scores.tolist() == [[0.75, 0.5, 0.0]]
    with pytest.raises(ValueError, match="capture_last_row=True"):
        copy_scores(GenerationTrace(tokens, ""), prompt, (1, 5))
    with pytest.raises(ValueError, match="outside a 7-token prompt"):
        copy_scores(trace, prompt, (3, 9))


def test_needle_located_by_char_offsets():
    tok = bpe_tokenizer()
    needle = "Paris is the capital of France."
    case = NiahCase("The quick brown fox. " + needle + " The lazy dog.", needle, "What is Paris?", "capital")
    prompt = build_niah_prompt(tok, case)                           # chat template, Wu et al. wording
    s, e = prompt.needle_span
    assert tok.decode(prompt.ids) == prompt.text and prompt.text.startswith("<|im_start|>user")
    assert tok.decode(prompt.ids[s:e]).strip() == needle
    assert needle not in tok.decode(prompt.ids[s + 1:e]) and needle not in tok.decode(prompt.ids[s:e - 1])
    with pytest.raises(ValueError, match="NIAH case: needle 'Oslo' not found"):
        build_niah_prompt(tok, case._replace(needle="Oslo"))
    with pytest.raises(ValueError, match="occurs more than once"):
        build_niah_prompt(tok, case._replace(context=case.context + " " + needle))
    with pytest.raises(ValueError, match=r"NIAH case 3: expected \(context, needle"):
        as_case(("a", "b", "c"), "NIAH case 3")


def test_case_from_niah_example():
    ex = make_niah(["Filler one two three.", "Four five six seven."], NEEDLES[1], length=60, depth=0.5)
    case = case_from_example(ex)
    assert case.needle == NEEDLES[1].needle and case.answer == "Admiral Biscuit"
    s, e = ex.meta["needle_span"]
    assert case.context[s:e] == case.needle


def _cases(n, seed, question="w9"):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        filler = [f"w{i}" for i in rng.integers(100, 200, size=int(rng.integers(20, 60)))]
        at = int(rng.integers(0, len(filler) + 1))
        out.append(NiahCase(" ".join(filler[:at] + [NEEDLE] + filler[at:]), NEEDLE, question, NEEDLE))
    return out


def test_planted_copy_head_gets_the_top_score():
    tok = word_tokenizer(220)
    model = copy_model(len(tok), tok.eos_token_id, layer=0, head=1)
    good = _cases(4, seed=0)
    bad = _cases(2, seed=1, question="w49")                         # w50 is nowhere: wrong answer
    result = niah_retrieval_scores(model, tok, good + bad, max_new_tokens=8, **PLAIN)
    assert (result.n_correct, result.n_runs) == (4, 6)
    scores = result.scores
    assert rank_heads(scores)[0] == ((0, 1), 1.0)                   # copied all 8 needle tokens
    others = torch.cat([scores[0, [0, 2, 3]], scores[1]])
    assert others.median() == 0 and others.max() <= 0.25
    none = niah_retrieval_scores(model, tok, bad, max_new_tokens=8, **PLAIN)
    assert none.n_correct == 0 and none.scores.shape == (2, 4) and (none.scores == 0).all()
