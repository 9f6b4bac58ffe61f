"""Every real encoding is read: each loader gives the same examples from a copy of its fixture saved
with a UTF-8 byte-order mark and CRLF line ends (as Windows editors and many public dumps do); ids
holding whitespace are refused at load time, naming the file, the record and the field."""
import json
import shutil
from pathlib import Path

import pytest

from qrexp.heads.sets import detected
from qrexp.data.beir import load_beir
from qrexp.data.clipper import load_clipper
from qrexp.data.instances import load_instances
from qrexp.io.jsonio import BOM, read_records
from qrexp.data.lme import load_lme
from qrexp.io.trec import read_trec_run

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(autouse=True)
def irds_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))


def windows_copy(source: Path, target: Path) -> Path:
    """``source`` (a file or a folder of files) re-saved as BOM + CRLF."""
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file():
                windows_copy(path, target / path.relative_to(source))
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    text = source.read_text(encoding="utf-8")
    assert not text.startswith("\ufeff")
    target.write_bytes(BOM + text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))
    return target


def test_bom_crlf_instances_json_and_jsonl(tmp_path):
    plain = load_instances(DATA / "instances_tiny.json")
    assert load_instances(windows_copy(DATA / "instances_tiny.json", tmp_path / "i.json")) == plain
    jsonl = tmp_path / "plain.jsonl"
    jsonl.write_text("".join(json.dumps(r.data) + "\n" for r in read_records(DATA / "instances_tiny.json")))
    assert load_instances(windows_copy(jsonl, tmp_path / "i.jsonl")) == plain


def test_bom_crlf_longmemeval(tmp_path):
    plain = load_lme(DATA / "lme_tiny.json")
    assert len(plain) >= 2
    assert load_lme(windows_copy(DATA / "lme_tiny.json", tmp_path / "l.json")) == plain


def test_bom_crlf_clipper_rows_and_chapters(tmp_path):
    src = DATA / "clipper"
    copy = windows_copy(src, tmp_path / "clipper")
    plain = load_clipper(src / "rows.jsonl", src / "books")
    windows = load_clipper(copy / "rows.jsonl", copy / "books")
    # chapter text: the same characters, CRLF kept as read (only the byte-order mark is dropped)
    assert [e.qid for e in windows] == [e.qid for e in plain] and windows[0].gold == plain[0].gold
    for a, b in zip(windows, plain):
        assert [d.text.replace("\r\n", "\n") for d in a.docs] == [d.text for d in b.docs]
        assert not any(d.text.startswith("\ufeff") for d in a.docs)


def test_bom_crlf_local_beir_folder_and_trec_run(tmp_path):
    folder = windows_copy(DATA / "beir_tiny", tmp_path / "beir")
    run = windows_copy(DATA / "beir_tiny.run", tmp_path / "bm25.run")
    assert read_trec_run(run) == read_trec_run(DATA / "beir_tiny.run")
    plain = load_beir(DATA / "beir_tiny", run=DATA / "beir_tiny.run", top_k=10)
    windows = load_beir(folder, run=run, top_k=10)
    assert [e.qid for e in windows] == [e.qid for e in plain]
    for a, b in zip(windows, plain):
        assert (a.query, a.doc_ids, a.gold, a.meta["qrels"]) == (b.query, b.doc_ids, b.gold, b.meta["qrels"])
        assert [d.text for d in a.docs] == [d.text for d in b.docs]


def test_bom_heads_file(tmp_path):
    heads = {"heads": ["1-2", "0-1"], "n_layers": 2, "n_heads": 4, "scores": [[0, 0.5, 0, 0], [0, 0, 1, 0]]}
    plain = tmp_path / "h.json"
    plain.write_text(json.dumps(heads))
    assert detected(windows_copy(plain, tmp_path / "w.json"), 2).heads == detected(plain, 2).heads


# ----------------------------------------------------------------------------- ids with whitespace
def _instances(tmp_path, **changes):
    rec = {"idx": "q1", "question": "?", "paragraphs": [{"idx": "d1", "paragraph_text": "t"}],
           "gt_docs": ["d1"]}
    rec.update(changes)
    path = tmp_path / "inst.json"
    path.write_text(json.dumps([{"idx": "q0", "question": "?", "paragraphs": [], "gt_docs": []}, rec]))
    return path


@pytest.mark.parametrize("changes,field", [
    ({"idx": "q 1"}, "idx"),
    ({"paragraphs": [{"idx": "d\t1", "paragraph_text": "t"}]}, "paragraphs[0].idx"),
    ({"gt_docs": ["d 1"]}, "gt_docs[0]"),
    ({"idx": ""}, "idx"),
])
def test_instance_ids_with_whitespace_refused_at_load(tmp_path, changes, field):
    path = _instances(tmp_path, **changes)
    with pytest.raises(ValueError) as info:
        load_instances(path)
    message = str(info.value)
    assert message.startswith(f"{path} record 1") and f"field {field!r}" in message
    assert "whitespace" in message and len(message.splitlines()) == 1


def test_lme_session_id_with_whitespace_refused(tmp_path):
    records = json.loads((DATA / "lme_tiny.json").read_text())
    records[1]["haystack_session_ids"][0] = "sess 7"
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(records))
    qid = records[1]["question_id"]
    with pytest.raises(ValueError, match=rf"lme.json record 1 \(question_id={qid}\): field "
                                         r"'haystack_session_ids\[0\]' = 'sess 7'"):
        load_lme(path)


def test_clipper_book_name_with_whitespace_refused(tmp_path):
    copy = tmp_path / "clipper"
    shutil.copytree(DATA / "clipper", copy)
    rows = (copy / "rows.jsonl").read_text().splitlines()
    first = json.loads(rows[0])
    shutil.copytree(copy / "books" / str(first["book_name"]), copy / "books" / "book one")
    first["book_name"] = "book one"                 # the book exists: only the id is wrong
    (copy / "rows.jsonl").write_text("\n".join([json.dumps(first), *rows[1:]]) + "\n")
    with pytest.raises(ValueError, match=rf"rows.jsonl line 1 \(id={first['id']}\): field 'book_name' = "
                                         r"'book one' is empty or contains whitespace"):
        load_clipper(copy / "rows.jsonl", copy / "books")


@pytest.mark.parametrize("name,where,field", [("corpus.jsonl", "line 1", "_id"),
                                              ("qrels/test.tsv", "line 2", "query-id")])
def test_beir_ids_with_whitespace_refused(tmp_path, name, where, field):
    folder = tmp_path / "beir"
    shutil.copytree(DATA / "beir_tiny", folder)
    path = folder / name
    lines = path.read_text().splitlines()
    i = 0 if name.endswith(".jsonl") else 1
    if name.endswith(".jsonl"):
        row = json.loads(lines[i])
        row["_id"] = "doc 1"
        lines[i] = json.dumps(row)
    else:
        lines[i] = "q 1\t" + lines[i].split("\t", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{name} {where}.*field {field!r} = .* whitespace"):
        load_beir(folder, run=DATA / "beir_tiny.run")
