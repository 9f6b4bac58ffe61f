"""Test instrument, active only when ``QREXP_COUNT_CALLS`` names a file (put this folder first on
PYTHONPATH): every process appends one line per model forward pass of the scorer and per sequence
generated, ``<pid> forward <qid>`` / ``<pid> generate <sha256 of the prompt token ids>``, so a test
counts the expensive work of every process of a job (submitit's requeued ones included)
independently of qrexp's own counters and journals. Patches apply when the modules are imported."""
import hashlib
import importlib.abc
import importlib.machinery
import os
import sys

COUNT_FILE = os.environ.get("QREXP_COUNT_CALLS")


def _note(line: str) -> None:
    fd = os.open(COUNT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {line}\n".encode())
    finally:
        os.close(fd)


def _patch_retriever(module) -> None:
    original = module.QRRetriever.raw_token_scores

    def raw_token_scores(self, query, docs, qid=None, *args, **kwargs):
        _note(f"forward {qid}")
        return original(self, query, docs, qid, *args, **kwargs)
    module.QRRetriever.raw_token_scores = raw_token_scores
    original_batch = module.QRRetriever.raw_token_scores_batch

    def raw_token_scores_batch(self, examples, *args, **kwargs):     # scoring.batch_size > 1
        for ex in examples:
            _note(f"forward {ex.qid}")
        return original_batch(self, examples, *args, **kwargs)
    module.QRRetriever.raw_token_scores_batch = raw_token_scores_batch


def _patch_generator(module) -> None:
    original = module.HFGenerator._generate_batch

    def _generate_batch(self, seqs, max_new_tokens):
        for seq in seqs:
            _note("generate " + hashlib.sha256(repr(list(seq)).encode()).hexdigest()[:16])
        return original(self, seqs, max_new_tokens)
    module.HFGenerator._generate_batch = _generate_batch


PATCHES = {"qrexp.engine.retriever": _patch_retriever, "qrexp.evals.llm": _patch_generator}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def patched(module, _exec=exec_module, _name=name):
            _exec(module)
            PATCHES[_name](module)
        spec.loader.exec_module = patched
        return spec


if COUNT_FILE:
    sys.meta_path.insert(0, _Finder())
