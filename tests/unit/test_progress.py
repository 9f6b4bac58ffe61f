"""Progress bars for long work: generation in chunks (QA answers, LLM judge) and RankGPT windows."""
from qrexp.evals.baselines import BM25Ranker
from qrexp.evals.rankgpt import RankGPTRanker, sliding_windows
from qrexp.evals.llm import Generator, generate_all
from qrexp.types import Doc, Example


class Echo(Generator):
    def __init__(self):
        self.batches = []

    def generate(self, prompts, max_new_tokens):
        self.batches.append(len(prompts))
        return [f"reply to {p}" for p in prompts]


def test_generate_all_chunks_and_counts_prompts(capsys):
    gen = Echo()
    prompts = [f"p{i}" for i in range(40)]
    assert generate_all(gen, prompts, 8, "LLM judge") == [f"reply to p{i}" for i in range(40)]
    assert gen.batches == [16, 16, 8]
    err = capsys.readouterr().err
    assert "LLM judge: 100%" in err and "40/40" in err
    gen.progress = False
    generate_all(gen, prompts, 8, "LLM judge")
    assert capsys.readouterr().err == ""


def test_rankgpt_bar_counts_every_window(capsys):
    examples = [Example(f"q{j}", "which?", [Doc(f"d{i}", f"passage {i}") for i in range(n)])
                for j, n in enumerate((10, 5))]
    ranker = RankGPTRanker(Echo(), window=4, step=2, passes=2)
    ranker.rank(examples)
    windows = 2 * (len(sliding_windows(10, 4, 2)) + len(sliding_windows(5, 4, 2)))
    assert ranker.stats["windows"] == windows
    err = capsys.readouterr().err
    assert "rankgpt: 100%" in err and f"{windows}/{windows}" in err


def test_bm25_bar_counts_queries(capsys):
    examples = [Example(f"q{j}", "passage one", [Doc(f"d{i}", f"passage {i}") for i in range(3)]) for j in range(3)]
    BM25Ranker().rank(examples)
    err = capsys.readouterr().err
    assert "bm25 (index + score): 100%" in err and "3/3" in err
