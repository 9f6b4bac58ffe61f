"""Per-query checkpoints (qrexp.runs.checkpoint): finished units are read back instead of recomputed,
checked against the config and their own inputs; a torn last line is cut off; a generator never
sees a prompt twice; the fault hook kills a real process at a known record."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from qrexp.runs.checkpoint import QueryCheckpoint, finished_keys
from qrexp.runs.journaled import JournaledGenerator

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [("q1", "alpha"), ("q2", "beta"), ("q3", "gamma"), ("q4", "delta")]


def _map(ckpt, items, calls):
    def compute(item):
        calls.append(item[0])
        return {"len": len(item[1]), "score": len(item[1]) / 3}     # a float that must round-trip
    return ckpt.journal("ranking").map(items, key_of=lambda it: it[0], dep_of=lambda it: it[1],
                                       compute=lambda chunk: [compute(it) for it in chunk], progress=False)


def test_finished_units_are_read_back_not_recomputed(tmp_path):
    calls, logs = [], []
    first = QueryCheckpoint(tmp_path, {"run": 1}, logs.append)
    assert _map(first, ITEMS[:2], calls) == [{"len": 5, "score": 5 / 3}, {"len": 4, "score": 4 / 3}]
    first.journal("ranking").close()
    second = QueryCheckpoint(tmp_path, {"run": 1}, logs.append)
    out = _map(second, ITEMS, calls)
    assert calls == ["q1", "q2", "q3", "q4"]                     # q1, q2 not computed again
    assert out == [{"len": len(t), "score": len(t) / 3} for _, t in ITEMS]   # exact floats
    assert second.summary() == {"ranking": {"resumed": 2, "computed": 2}}
    assert any("resuming at query 2 of 4 (2 read back from ranking.jsonl)" in m for m in logs)
    assert finished_keys(tmp_path, "ranking") == ["q1", "q2", "q3", "q4"]
    second.discard()
    assert not (tmp_path / "partial").exists() and "ranking resumed 2 computed 2" in logs[-1]


def test_changed_inputs_and_config_are_recomputed(tmp_path):
    calls, logs = [], []
    ck = QueryCheckpoint(tmp_path, {"run": 1}, logs.append)
    _map(ck, ITEMS, calls)
    ck.journal("ranking").close()
    changed = [ITEMS[0], ("q2", "BETA!"), *ITEMS[2:]]             # q2's documents changed
    out = _map(QueryCheckpoint(tmp_path, {"run": 1}, logs.append), changed, calls)
    assert calls[4:] == ["q2"] and out[1] == {"len": 5, "score": 5 / 3}
    assert any("q2 was computed from other inputs" in m for m in logs)
    # the newer record wins on the next open
    again = QueryCheckpoint(tmp_path, {"run": 1}, logs.append).journal("ranking")
    assert again.lookup("q2", again.done["q2"][0]) == {"len": 5, "score": 5 / 3}
    again.close()
    _map(QueryCheckpoint(tmp_path, {"run": 2}, logs.append), ITEMS, calls)   # another config: all again
    assert calls[5:] == ["q1", "q2", "q3", "q4"]
    assert any("written for another config, code or format" in m for m in logs)


def test_a_torn_last_record_is_cut_off(tmp_path):
    calls = []
    ck = QueryCheckpoint(tmp_path, {"run": 1}, print)
    _map(ck, ITEMS[:3], calls)
    ck.journal("ranking").close()
    path = tmp_path / "partial" / "ranking.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])                                  # a kill in the middle of line 4
    logs = []
    out = _map(QueryCheckpoint(tmp_path, {"run": 1}, logs.append), ITEMS, calls)
    assert calls[3:] == ["q3", "q4"] and len(out) == 4
    assert any("cut off" in m and "torn" in m for m in logs)
    lines = path.read_text().splitlines()                          # every line is whole JSON again
    assert [json.loads(x).get("key") for x in lines] == [None, "q1", "q2", "q3", "q4"]


class Reverser:
    """A deterministic generator (reply = reversed prompt, cut to max_new_tokens chars) that counts calls."""
    name, batch_size, progress = "reverser", 2, True

    def __init__(self):
        self.sent = []

    def generate(self, prompts, max_new_tokens):
        self.sent.append(list(prompts))
        return [str(p)[::-1][:max_new_tokens] for p in prompts]


def test_journaled_generator_sends_each_prompt_once(tmp_path):
    inner = Reverser()
    gen = JournaledGenerator(inner, QueryCheckpoint(tmp_path, {"run": 1}).journal("qa"), {"weights": "abc"})
    gen.progress = False                                           # attributes are the inner generator's
    assert inner.progress is False and gen.name == "reverser"
    assert gen.generate(["ab", "cd", "ab", "ef", "gh"], 9) == ["ba", "dc", "ba", "fe", "hg"]
    assert inner.sent == [["ab", "cd"], ["ef", "gh"]]              # chunks of batch_size, "ab" once
    gen.journal.close()
    inner2 = Reverser()
    gen2 = JournaledGenerator(inner2, QueryCheckpoint(tmp_path, {"run": 1}).journal("qa"), {"weights": "abc"})
    assert gen2.generate(["gh", "ij", "ab"], 9) == ["hg", "ji", "ba"] and inner2.sent == [["ij"]]
    assert gen2.generate(["ab"], 1) == ["b"]                       # other max_new_tokens: sent again
    other = JournaledGenerator(Reverser(), QueryCheckpoint(tmp_path, {"run": 1}).journal("qa"), {"weights": "xyz"})
    assert other.generate(["ab"], 9) == ["ba"] and other.inner.sent == [["ab"]]   # other weights: sent again
    text = (tmp_path / "partial" / "qa.jsonl").read_text()
    assert '"ab"' not in text and '"cd"' not in text and '"ba"' in text   # prompts stored as digests only


SCRIPT = """
import sys
from qrexp.runs.checkpoint import QueryCheckpoint
ck = QueryCheckpoint(sys.argv[1], {"run": 1})
done = []
ck.journal("ranking").map(list(range(6)), key_of=str, dep_of=lambda i: i,
                          compute=lambda chunk: [done.append(i) or i * i for i in chunk], progress=False)
print("computed", done)
"""


def test_fault_hook_kills_the_process_after_n_records(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QREXP_FAULT_AT": "ranking:4"}
    run = lambda: subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                                 capture_output=True, text=True, timeout=120)
    killed = run()
    assert killed.returncode == -signal.SIGKILL and finished_keys(tmp_path, "ranking") == ["0", "1", "2", "3"]
    resumed = run()                                               # same environment: not killed again
    assert resumed.returncode == 0 and "computed [4, 5]" in resumed.stdout
    assert finished_keys(tmp_path, "ranking") == [str(i) for i in range(6)]


def test_results_of_other_code_are_not_reused(tmp_path, monkeypatch):
    from qrexp.runs import checkpoint
    calls = []
    _map(QueryCheckpoint(tmp_path, {"run": 1}), ITEMS, calls)
    checkpoint.code_digest.cache_clear()
    assert checkpoint.code_digest() == checkpoint.code_digest()       # stable for a requeued job
    monkeypatch.setattr(checkpoint, "code_digest", lambda: "edited")    # e.g. a bug fixed in between
    _map(QueryCheckpoint(tmp_path, {"run": 1}), ITEMS, calls)
    assert calls == ["q1", "q2", "q3", "q4"] * 2


def test_chunks_are_computed_together_and_recorded_each(tmp_path):
    chunks = []
    journal = QueryCheckpoint(tmp_path, {"run": 1}).journal("ranking")
    out = journal.map(ITEMS, key_of=lambda it: it[0], dep_of=lambda it: it[1], progress=False, batch=3,
                      compute=lambda chunk: chunks.append([k for k, _ in chunk]) or [t.upper() for _, t in chunk])
    assert out == ["ALPHA", "BETA", "GAMMA", "DELTA"] and chunks == [["q1", "q2", "q3"], ["q4"]]
    assert finished_keys(tmp_path, "ranking") == ["q1", "q2", "q3", "q4"]
