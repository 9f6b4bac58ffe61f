"""A planted retrieval head ranks the gold document first; the other heads stay near chance."""
import numpy as np
import pytest
import torch

from organisms import N_DOCS, make_examples, planted_model, word_tokenizer
from qrexp import QRRetriever

@pytest.fixture(scope="module")
def retriever():
    tok = word_tokenizer(220)
    model = planted_model(len(tok), layer=0, head=1)
    return QRRetriever(model, tok, query_span="query", null_query="w210 w210")


def r_at_1(scores, ex):
    return float(ex.docs[int(torch.argmax(scores))].doc_id in ex.gold)


N_EX = 60


def test_planted_head_retrieves_and_others_do_not(retriever):
    examples = make_examples(N_EX, seed=1)
    hits = torch.zeros(2, 4)
    for ex in examples:
        ds = retriever.doc_scores(ex.query, ex.docs, ex.qid)            # [D, L, H]
        gold = torch.tensor([d.doc_id in ex.gold for d in ex.docs])
        hits += (ds.argmax(0) == gold.nonzero()[0, 0]).float()
    r1 = hits / N_EX
    assert r1[0, 1] >= 0.9
    others = torch.cat([r1[0, [0, 2, 3]], r1[1]])
    assert others.median() <= 2 / N_DOCS                                 # chance is 1/6


def test_score_docs_with_the_planted_head(retriever):
    examples = make_examples(30, seed=2)
    planted = QRRetriever(retriever.model, retriever.tokenizer, heads="0-1", query_span="query",
                          null_query="w210 w210")
    run = planted.rerank(examples, progress=False)
    acc = np.mean([max(run[ex.qid], key=run[ex.qid].get) in ex.gold for ex in examples])
    assert acc >= 0.9
