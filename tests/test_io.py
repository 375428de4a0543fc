"""fdiff.io: JSON read back as an object or refused in one line naming the file."""

from __future__ import annotations

import pytest

from fdiff.data.registry import load_registry
from fdiff.errors import FdiffError
from fdiff.io import read_json_object, write_json
from fdiff.report.results import read_json_result


def test_an_object_reads_back(tmp_path):
    write_json(tmp_path / "a.json", {"fid": 1.5})
    assert read_json_object(tmp_path / "a.json") == {"fid": 1.5}


@pytest.mark.parametrize(
    "text, says",
    [
        ("[1, 2]", "expected a JSON object, found a JSON list"),
        ("{not json", "cannot read a JSON object"),
        ("3", "found a JSON int"),
    ],
)
def test_anything_else_is_one_line_naming_the_file(tmp_path, text, says):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(FdiffError) as e:
        read_json_object(p)
    assert str(p) in str(e.value) and says in str(e.value)
    assert "\n" not in str(e.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FdiffError, match="missing.json: cannot read"):
        read_json_object(tmp_path / "missing.json")


def test_the_readers_say_what_they_expected(tmp_path):
    p = tmp_path / "fid.json"
    p.write_text("[]")
    with pytest.raises(FdiffError, match="expected a fid or consistency JSON object"):
        read_json_result(p)
    with pytest.raises(FdiffError, match=r"expected registry overrides, a JSON object \{dataset"):
        load_registry(overrides=p)
