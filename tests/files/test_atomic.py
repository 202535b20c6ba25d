import json

import pytest

from vlcp.errors import VlcpError
from vlcp.files.atomic import append_jsonl, atomic_write_json, read_json, read_jsonl


def test_append_and_read_jsonl(tmp_path):
    p = tmp_path / "a.jsonl"
    append_jsonl(p, [{"a": 1}, {"a": 2}])
    append_jsonl(p, [{"a": 3}])
    assert [r["a"] for r in read_jsonl(p)] == [1, 2, 3]


def test_torn_last_line_is_dropped_and_appends_continue(tmp_path):
    p = tmp_path / "a.jsonl"
    append_jsonl(p, [{"a": 1}])
    with p.open("a") as f:
        f.write('{"a": 2')  # a crash in the middle of a write
    assert [r["a"] for r in read_jsonl(p)] == [1]
    append_jsonl(p, [{"a": 3}])
    assert [r["a"] for r in read_jsonl(p)] == [1, 3]


def test_corrupt_middle_line_names_the_file(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(VlcpError, match="a.jsonl:2"):
        list(read_jsonl(p))


def test_atomic_json_roundtrip_and_missing_file(tmp_path):
    atomic_write_json(tmp_path / "x" / "y.json", {"k": [1, 2]})
    assert read_json(tmp_path / "x" / "y.json") == {"k": [1, 2]}
    assert not list((tmp_path / "x").glob(".*tmp"))
    with pytest.raises(VlcpError, match="nope.json"):
        read_json(tmp_path / "nope.json")


def test_image_records_prefers_metadata_and_reads_older_manifests(tmp_path):
    from vlcp.files.atomic import image_records

    assert image_records(tmp_path) is None  # synthesis not finished: no record file
    (tmp_path / "manifest.jsonl").write_text("{}\n")
    assert image_records(tmp_path) == tmp_path / "manifest.jsonl"  # a run made before metadata.jsonl
    (tmp_path / "metadata.jsonl").write_text("{}\n")
    assert image_records(tmp_path) == tmp_path / "metadata.jsonl"
