"""ScoreCache: keys, compute-once, corrupt files, and detection from cached DocScores."""
import dataclasses
import threading
import time

import pytest
import torch

from qrexp.heads.objectives import detect, rank_heads, relevance_of
from qrexp.engine.score_cache import (ScoreCache, cached_doc_scores, example_content,
                               fingerprint, iter_doc_scores, prompt_digest, scores_key)
from qrexp.types import Doc, Example, Prompt


@dataclasses.dataclass(frozen=True)
class PromptSettings:  # stands in for whatever settings object the pipeline passes
    style: str = "qrhead"
    query_span: str = "instruction+query+suffix"
    null_query: str = "N/A"
    calibrate: bool = True
    mask_sigma: float = 2.0


def _examples(n=6, d=5):
    return [Example(f"q{i}", f"query {i}", tuple(Doc(f"d{i}-{j}", f"text {j}", f"t{j}") for j in range(d)),
                    gold={f"d{i}-{i % d}"}) for i in range(n)]


def _fake_forward(ex: Example) -> torch.Tensor:
    """A deterministic DocScores [D, 3, 4] from the example text (no model): gold docs get head 1-2."""
    gen = torch.Generator().manual_seed(sum(map(ord, ex.qid + ex.query)))
    s = torch.randn(len(ex.docs), 3, 4, generator=gen)
    s[relevance_of(ex), 1, 2] += 10.0
    return s


def _prompt(ex: Example) -> Prompt:
    """A stand-in tokenization (one id per character) with real spans, no tokenizer needed."""
    ids, spans = [], []
    for d in ex.docs:
        start = len(ids)
        ids += [ord(c) for c in f"{d.title}: {d.text}"]
        spans.append((start, len(ids)))
    c = len(ids)
    ids += [ord(ch) for ch in ex.query]
    return Prompt("", tuple(ids), (c, len(ids)), tuple(spans), tuple(d.doc_id for d in ex.docs), c)


MODEL = {"path": "org/tiny", "commit": "abc123", "weights": "0f" * 32}


def _key(ex, model=MODEL, **changes):
    return scores_key("doc_scores", [_prompt(ex)], model=model,
                      settings=dataclasses.replace(PromptSettings(), **changes))


def test_fingerprint_is_canonical_and_sensitive():
    assert fingerprint(a=1, b={"x": 1, "y": 2}) == fingerprint(b={"y": 2, "x": 1}, a=1)
    assert len(fingerprint(a=1)) == 64 and fingerprint(a=1) != fingerprint(a=2)
    ex = _examples(1)[0]
    base = _key(ex)
    variants = [_key(ex, style="icr"), _key(ex, query_span="query"), _key(ex, null_query=""),
                _key(ex, calibrate=False), _key(ex, mask_sigma=3.0),
                _key(ex, model={**MODEL, "commit": "def456"}), _key(ex, model={**MODEL, "weights": "1"}),
                scores_key("token_scores", [_prompt(ex)], model=MODEL, settings=PromptSettings())]
    assert len({base, *variants}) == len(variants) + 1
    reordered = dataclasses.replace(ex, docs=ex.docs[::-1])
    retitled = dataclasses.replace(ex, docs=(Doc(ex.docs[0].doc_id, ex.docs[0].text, "new"),) + ex.docs[1:])
    assert len({base, _key(reordered), _key(retitled), _key(dataclasses.replace(ex, query="q?"))}) == 4
    # gold labels and answers do not change DocScores, so they do not change the key
    assert _key(dataclasses.replace(ex, gold={"d0-3"}, answer="x")) == base
    assert example_content(ex)["docs"][0] == {"id": "d0-0", "title": "t0", "text": "text 0"}


def test_key_covers_the_tokens_and_spans_scored():
    """Same example and settings, other token ids or spans (an edited tokenizer or template): other key."""
    ex = _examples(1)[0]
    p = _prompt(ex)
    key = lambda *prompts: scores_key("token_scores", prompts, model=MODEL, settings=PromptSettings())
    retokenized = dataclasses.replace(p, input_ids=p.input_ids[:-1] + (p.input_ids[-1] + 1,))
    shifted = dataclasses.replace(p, doc_spans=((0, 3),) + p.doc_spans[1:])
    null = dataclasses.replace(p, input_ids=p.input_ids[: p.cont_start] + (78, 47, 65))
    keys = {key(p), key(retokenized), key(shifted), key(p, null), key(p, None)}
    assert len(keys) == 5
    assert prompt_digest(p) == prompt_digest(dataclasses.replace(p, text="other text", doc_ids=("x",)))


def test_get_or_compute_calls_fn_once(tmp_path):
    cache = ScoreCache(tmp_path / "cache")
    calls = []
    key = fingerprint(x=1)
    fn = lambda: calls.append(1) or torch.arange(6.0).reshape(1, 2, 3)
    first = cache.get_or_compute(key, fn)
    again = ScoreCache(tmp_path / "cache").get_or_compute(key, fn)  # fresh object: read from disk
    assert len(calls) == 1 and torch.equal(first, again) and key in cache
    assert cache.path(key).parent.name == key[:2]
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.get(fingerprint(x=2)) is None
    with pytest.raises(ValueError, match="bad key '../x'"):
        cache.get("../x")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_key"])
def test_damaged_file_is_recomputed(tmp_path, damage):
    cache = ScoreCache(tmp_path)
    key, other = fingerprint(x=1), fingerprint(x=2)
    value = torch.randn(4, 2, 3)
    path = cache.put(key, value)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a score-cache record")
    else:
        path.write_bytes(cache.put(other, value).read_bytes())
    calls = []
    with pytest.warns(RuntimeWarning, match=f"{key}.scores: .*recomputing"):
        got = cache.get_or_compute(key, lambda: calls.append(1) or value)
    assert calls == [1] and torch.equal(got, value)
    assert torch.equal(cache.get(key), value)  # the rewritten file is sound


def test_tensor_of_another_length_is_never_served(tmp_path):
    """A cached tensor whose key-axis length does not fit the prompt is deleted and recomputed."""
    cache = ScoreCache(tmp_path)
    key = fingerprint(x=1)
    cache.put(key, torch.zeros(2, 3, 4, 57))                       # 57 positions cached
    right = torch.ones(2, 3, 4, 68)                                # the prompt has 68
    with pytest.warns(RuntimeWarning, match=r"shape \[2, 3, 4, 57\], the prompt needs \[2, 3, 4, 68\]"):
        got = cache.get_or_compute(key, lambda: right, shape=(2, 3, 4, 68))
    assert torch.equal(got, right) and (cache.hits, cache.misses) == (0, 1)
    assert torch.equal(cache.get(key, (2, 3, 4, 68)), right)
    with pytest.raises(RuntimeError, match=r"computed a tensor of shape \[1\]"):
        cache.get_or_compute(fingerprint(x=2), lambda: torch.zeros(1), shape=(2,))
    assert fingerprint(x=2) not in cache


def test_cached_and_uncached_detection_agree(tmp_path):
    examples = _examples()
    rel = [relevance_of(ex) for ex in examples]
    direct = {name: detect(name, (_fake_forward(ex) for ex in examples), rel)
              for name in ("qrscore", "ndcg10", "recall1")}
    cache = ScoreCache(tmp_path)
    forwards = []

    def compute(ex):
        forwards.append(ex.qid)
        return _fake_forward(ex)

    first = detect("qrscore", iter_doc_scores(examples, cache, _key, compute), rel)
    assert torch.equal(first, direct["qrscore"]) and len(forwards) == len(examples)
    keys = [_key(ex) for ex in examples]
    for name, expected in direct.items():  # switching objective recomputes nothing
        got = detect(name, cached_doc_scores(cache, keys), rel)
        assert torch.equal(got, expected)
        assert rank_heads(got) == rank_heads(expected)
    subset = detect("qrscore", iter_doc_scores(examples[2:5], cache, _key, compute), rel[2:5])
    assert torch.equal(subset, detect("qrscore", (_fake_forward(ex) for ex in examples[2:5]), rel[2:5]))
    assert len(forwards) == len(examples)  # a subset is served from the cache
    assert rank_heads(first)[0][0] == (1, 2)
    with pytest.raises(KeyError, match="no DocScores for example 1"):
        list(cached_doc_scores(cache, [keys[0], fingerprint(missing=True)]))


def test_get_or_compute_waits_for_an_entry_being_computed(tmp_path):
    """An entry whose lock another holder has (here a thread that stores it, then releases) is read
    once stored, not computed a second time; the lock file is gone afterwards."""
    cache, key = ScoreCache(tmp_path), "ab" * 32
    value = torch.arange(6, dtype=torch.float32).view(2, 3)
    held = cache.lock(key).acquire()

    def finish():
        time.sleep(0.3)
        cache.put(key, value)
        held.release()
    worker = threading.Thread(target=finish)
    worker.start()
    calls = []
    got = cache.get_or_compute(key, lambda: calls.append(1) or torch.zeros(2, 3), shape=(2, 3))
    worker.join()
    assert calls == [] and torch.equal(got, value)
    assert not list(tmp_path.rglob("*.lock"))
