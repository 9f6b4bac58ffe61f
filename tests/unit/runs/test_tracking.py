"""Trackers: local files, W&B offline (read back from the .wandb log) and disabled. No network."""
import json
import struct
import time
import zlib
from pathlib import Path

import pandas as pd
import pytest

from qrexp.runs.store import RunStore
from qrexp.runs.tracking import LocalTracker, MultiTracker, WandbTracker, open_tracker


@pytest.fixture(scope="module", autouse=True)
def wandb_env(tmp_path_factory):
    """Keep W&B silent, keyless, offline and out of the home folder for the whole module."""
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "WANDB_ENTITY"):
            mp.delenv(var, raising=False)
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # a closed port: any network use fails
        for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
            mp.setenv(var, str(home / var.lower()))
        mp.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))  # wandb-core's debug logs
        yield


def tiny_png(path: Path) -> Path:
    """A valid 2x1 RGB PNG written by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x00" + bytes([255, 0, 0, 0, 0, 255])
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.write_bytes(png)
    return path


def read_wandb_log(path: Path, wait_s: float = 20.0) -> tuple[dict, dict]:
    """(summary, config) from a .wandb file: a 7-byte header, then LevelDB-log records
    (crc u32, length u16, type u8: 1 full, 2 first, 3 middle, 4 last) in 32 KiB blocks.
    wandb-core flushes the file shortly after finish() returns, so wait for the exit record."""
    deadline = time.monotonic() + wait_s
    while True:
        kinds, summary, config = _parse_wandb_log(path)
        if "exit" in kinds or time.monotonic() > deadline:
            return summary, config
        time.sleep(0.1)


def _parse_wandb_log(path: Path) -> tuple[set, dict, dict]:
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block, pending, records = path.read_bytes(), 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        piece, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 1:
            records.append(piece)
        elif kind in (2, 3):
            pending = (b"" if kind == 2 else pending) + piece
        elif kind == 4:
            records.append(pending + piece)
    kinds, summary, config = set(), {}, {}
    for blob in records:
        rec = pb.Record()
        rec.ParseFromString(blob)
        kind = rec.WhichOneof("record_type")
        kinds.add(kind)
        items = (rec.summary.update if kind == "summary" else rec.run.config.update if kind == "run" else [])
        target = summary if kind == "summary" else config
        for item in items:
            target[item.key or ".".join(item.nested_key)] = json.loads(item.value_json)
    return kinds, summary, config


def test_local_tracker_writes_files(tmp_path):
    store = RunStore(tmp_path / "runs")
    outside = tmp_path / "heads.json"
    outside.write_text('["13-18"]')
    with LocalTracker(store, "r1") as tracker:
        tracker.log_metrics({"ndcg_cut_10": 0.5})
        tracker.log_metrics({"ndcg_cut_10": 0.75}, step=7)
        tracker.log_table("per_query", pd.DataFrame({"qid": ["q1", "q2"], "ndcg": [0.5, 1.0]}))
        tracker.log_image("heatmap", tiny_png(tmp_path / "h.png"))
        tracker.log_artifact("heads", "heads", outside)
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "q1.pt").write_bytes(b"\x00\x01")
        tracker.log_artifact("scores", "cache", tmp_path / "cache")
        tracker.log_artifact("scores", "cache", tmp_path / "cache")  # re-logging replaces the entry
        store.write_text("r1", "run.trec", "q1 Q0 d1 1 1.0 x\n")
        tracker.log_artifact("run-file", "trec", store.run_dir("r1") / "run.trec")
    folder = store.run_dir("r1")
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    assert history == [{"step": 0, "ndcg_cut_10": 0.5}, {"step": 7, "ndcg_cut_10": 0.75}]
    assert (folder / "tables/per_query.csv").read_text() == "qid,ndcg\nq1,0.5\nq2,1.0\n"
    assert (folder / "media/heatmap.png").read_bytes() == (tmp_path / "h.png").read_bytes()
    manifest = json.loads((folder / "artifacts.json").read_text())
    assert [(a["name"], a["type"], a["path"]) for a in manifest] == [
        ("heads", "heads", "artifacts/heads/heads.json"), ("scores", "cache", "artifacts/scores/cache"),
        ("run-file", "trec", "run.trec")]
    assert sorted(p.name for p in (folder / "artifacts/scores").iterdir()) == ["cache"]
    assert (folder / "artifacts/scores/cache/q1.pt").read_bytes() == b"\x00\x01"
    assert (folder / "artifacts/heads/heads.json").read_text() == '["13-18"]'
    assert len(manifest[0]["sha256"]) == 64
    assert tracker.finished
    with pytest.raises(RuntimeError, match="already finished"):
        tracker.log_metrics({"x": 1.0})


def test_wandb_offline_records_summary_and_strips_secrets(tmp_path):
    png = tiny_png(tmp_path / "fig.png")
    config = {"model": {"name": "tiny"}, "seed": 3, "wandb_api_key": "SECRET-123",
              "auth": {"hf_token": "SECRET-456", "user": "me"}}
    out = tmp_path / "out"
    with WandbTracker("qrexp-test", group="g", job_type="eval", tags=["beir", "nq"], config=config,
                      mode="offline", dir=out) as tracker:
        tracker.log_metrics({"ndcg_cut_10": 0.625, "recall_100": 0.5})
        tracker.log_table("per_query", pd.DataFrame({"qid": ["q1"], "ndcg": [0.625]}))
        tracker.log_image("fig", png)
        tracker.log_artifact("fig-file", "figure", png)
        with pytest.raises(ValueError, match="W&B artifact name 'bad name'"):
            tracker.log_artifact("bad name", "trec", png)
    folders = list((out / "wandb").glob(f"offline-run-*-{tracker.run_id}"))
    assert len(folders) == 1
    summary, logged_config = read_wandb_log(folders[0] / f"run-{tracker.run_id}.wandb")
    assert summary["ndcg_cut_10"] == 0.625 and summary["recall_100"] == 0.5
    assert logged_config["model"] == {"name": "tiny"} and logged_config["seed"] == 3
    assert logged_config["auth"] == {"user": "me"} and "wandb_api_key" not in logged_config
    assert list(folders[0].glob("files/media/table/per_query_*.table.json"))
    for path in out.rglob("*"):
        if path.is_file():
            assert b"SECRET-" not in path.read_bytes(), path


def test_second_tracker_gets_a_new_run(tmp_path):
    first = WandbTracker("qrexp-test", mode="offline", dir=tmp_path, config={"i": 1})
    first.log_metrics({"m": 1.0})
    # not finished on purpose: plain wandb.init would hand back this same run
    with WandbTracker("qrexp-test", mode="offline", dir=tmp_path, config={"i": 2}) as second:
        second.log_metrics({"m": 2.0})
    first.finish()
    assert first.run_id != second.run_id
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    for tracker, value in ((first, 1.0), (second, 2.0)):
        summary, config = read_wandb_log(tmp_path / "wandb" / next(
            p.name for p in runs if p.name.endswith(tracker.run_id)) / f"run-{tracker.run_id}.wandb")
        assert summary["m"] == value and config["i"] == int(value)


def test_wandb_disabled_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "wb"
    with WandbTracker("qrexp-test", mode="disabled", dir=target, config={"a": 1}) as tracker:
        tracker.log_metrics({"ndcg_cut_10": 0.5})
        tracker.log_table("t", pd.DataFrame({"a": [1]}))
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="wandb mode 'offlne'"):
        WandbTracker("qrexp-test", mode="offlne")


def test_open_tracker_fans_out_and_finishes_on_error(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(KeyError):
        with open_tracker(store, "r2", {"project": "qrexp-test", "mode": "disabled"}) as tracker:
            tracker.log_metrics({"ndcg_cut_10": 0.5})
            raise KeyError("boom")
    assert isinstance(tracker, MultiTracker)
    assert all(t.finished for t in tracker.trackers)
    assert (store.run_dir("r2") / "history.jsonl").read_text() == '{"ndcg_cut_10": 0.5, "step": 0}\n'
    assert isinstance(open_tracker(store, "r3"), LocalTracker)
