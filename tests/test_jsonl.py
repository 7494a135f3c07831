import json

import pytest

from armap.errors import CorruptRecordError
from armap.jsonl import JsonlWriter, read_jsonl, repair_tail


def test_writer_appends_and_reader_round_trips(tmp_path):
    path = tmp_path / "a.jsonl"
    with JsonlWriter(path) as w:
        w.write({"a": 1})
    with JsonlWriter(path) as w:
        w.write({"a": 2, "text": "ünïcode"})
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2, "text": "ünïcode"}]


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    with pytest.raises(CorruptRecordError, match=r"bad.jsonl:2"):
        list(read_jsonl(path))
    path.write_text('[1, 2]\n')
    with pytest.raises(CorruptRecordError, match="JSON object"):
        list(read_jsonl(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl does not exist"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_torn_last_line_is_cut_and_earlier_records_kept(tmp_path):
    path = tmp_path / "torn.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n" + '{"a": 2, "b"')
    assert repair_tail(path) == len('{"a": 2, "b"')
    assert list(read_jsonl(path)) == [{"a": 1}]
    with JsonlWriter(path) as w:  # the writer repairs too before appending
        w.write({"a": 3})
    assert [r["a"] for r in read_jsonl(path)] == [1, 3]
    assert repair_tail(path) == 0
