import os

# One CPU share per process: the demo subprocess (started at collection, tests/integration/test_demo.py)
# runs next to the test process and the subprocesses the tests start. With two torch (OpenMP)
# threads each on two cores they oversubscribe the cores and the spinning threads waste the CPU:
# measured on 2 cores, a rehearsal next to the demo took 80 s at the default threads and 33 s at
# one thread each (26 s alone). Set before torch loads; subprocesses inherit it.
THREADS = str(max(1, (os.cpu_count() or 2) // 2))
os.environ.setdefault("OMP_NUM_THREADS", THREADS)
os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

import pytest  # noqa: E402
import torch  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def chat_tokenizer():
    from organisms import bpe_tokenizer
    return bpe_tokenizer()


@pytest.fixture(scope="session")
def llama3_tok():
    from organisms import llama3_tokenizer
    return llama3_tokenizer()


@pytest.fixture(scope="session", autouse=True)
def every_run_file_reproduces_its_metrics(tmp_path_factory):
    """After the session: re-score every run.trec any test wrote (with its qrels.trec, pytrec_eval)
    and require metrics.json and per_query.jsonl to match (issue 9: run files reproduce metrics)."""
    yield
    from run_files import rescore_run_folder, scored_run_folders
    problems = [p for folder in scored_run_folders(tmp_path_factory.getbasetemp())
                for p in rescore_run_folder(folder)]
    assert not problems, "run.trec does not reproduce metrics.json:\n" + "\n".join(problems[:20])


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A saved tiny random Llama + BPE tokenizer folder (tests/organisms.py), for `model.path=` in
    command-line and run tests."""
    from organisms import bpe_tokenizer, tiny_model
    folder = tmp_path_factory.mktemp("tiny-model")
    tok = bpe_tokenizer()
    tiny_model("llama", len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


DEMO_TESTS = "tests/integration/test_demo.py"


def pytest_collection_modifyitems(session, config, items):
    """Run the demo's tests last: they wait for the demo subprocess started at collection, and
    collected in file order they would block the session within its first minute, leaving the demo
    to run alone instead of next to every other test."""
    items.sort(key=lambda item: item.nodeid.startswith(DEMO_TESTS))      # stable: the rest keep their order


def pytest_collection_finish(session):
    """Start the offline demo (tests/integration/test_demo.py) as soon as a demo test is selected:
    it runs in a subprocess next to the other tests (which mostly wait on their own subprocesses),
    and the demo fixture waits for it. Saves most of the demo's ~4 minutes of wall time."""
    if session.config.option.collectonly:
        return
    if any(item.nodeid.startswith(DEMO_TESTS) for item in session.items):
        from test_demo import start_demo
        out = session.config._tmp_path_factory.mktemp("demo")
        session.config.qrexp_demo = (out, start_demo(out))
