"""load_text: UTF-8 decoding with errors naming the file and byte offset."""

import pytest

from jaxlstm.data.text import load_text


def test_round_trip_non_ascii(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_text("naïve café — 日本語 🙂\n", encoding="utf-8")
    assert load_text(path) == "naïve café — 日本語 🙂\n"
    path.write_bytes(b"\xef\xbb\xbfhello")                      # byte-order mark is dropped
    assert load_text(str(path)) == "hello"


def test_non_utf8_names_file_and_byte_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("héllo".encode("latin-1"))                # é = 0xe9 at byte 1
    with pytest.raises(ValueError, match=r"latin1\.txt' is not valid UTF-8: byte offset 1 \(0xe9\)"):
        load_text(path)
    path.write_bytes(b"\xef\xbb\xbfabc\xff")                   # offsets count the BOM
    with pytest.raises(ValueError, match=r"byte offset 6 \(0xff\)"):
        load_text(path)


def test_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"text file not found: .*missing\.txt"):
        load_text(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"text file is empty \(0 bytes\): .*empty\.txt"):
        load_text(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="expected a regular file"):
        load_text(tmp_path)
