"""The one re-ranking loop (qrexp.engine.rerank): the retriever and every baseline ranker produce
their Run through it; scores land on the right doc ids, wrong lengths are refused."""
import pytest
import torch

from organisms import bpe_tokenizer, tiny_model
from qrexp.engine.rerank import Ranker, rerank
from qrexp.engine.retriever import QRRetriever
from qrexp.types import Doc, Example


def _examples():
    return [Example("q1", "Where does Marta live?", [Doc("a", "Marta Novak lives in Oslo."),
                                                      Doc("b", "John Reyes owns a parrot in Lima.")]),
            Example("q2", "Which pet?", [Doc("c", "The quick brown fox."), Doc("d", "Paris is in France."),
                                          Doc("e", "A lazy dog.")])]


def test_rerank_keys_scores_by_doc_id():
    run = rerank(_examples(), lambda ex: [len(d.text) for d in ex.docs], progress=False)
    assert run == {"q1": {"a": 26.0, "b": 33.0}, "q2": {"c": 20.0, "d": 19.0, "e": 11.0}}
    tensor_run = rerank(_examples(), lambda ex: torch.arange(len(ex.docs)), progress=False)
    assert tensor_run == {"q1": {"a": 0.0, "b": 1.0}, "q2": {"c": 0.0, "d": 1.0, "e": 2.0}}
    with pytest.raises(ValueError, match="example q1: re-ranking gave 1 scores for 2 candidates"):
        rerank(_examples(), lambda ex: [1.0], progress=False)


class Length(Ranker):
    def score(self, example):
        return [float(len(d.text.split())) for d in example.docs]


def test_ranker_uses_the_loop_and_skips_empty_examples():
    ranker = Length()
    ranker.progress = False
    run = ranker.rank(_examples() + [Example("q3", "nothing", [])])
    assert run == {"q1": {"a": 5.0, "b": 7.0}, "q2": {"c": 4.0, "d": 4.0, "e": 3.0}, "q3": {}}


def test_retriever_rerank_equals_its_per_example_scores():
    tok = bpe_tokenizer()
    retriever = QRRetriever(tiny_model("llama", len(tok), num_hidden_layers=2), tok, heads="0-1,1-0")
    run = retriever.rerank(_examples(), progress=False)
    for ex in _examples():
        assert run[ex.qid] == pytest.approx(retriever.score_docs(ex.query, ex.docs), abs=0, rel=0)
