"""CoNLL-2003 and CoNLL-U readers on files written by the tests."""

import numpy as np
import pytest

from jaxlstm.data.conll import (
    TaggedSentence,
    build_vocabs,
    encode_tagged,
    read_conll2003,
    read_conllu,
    write_conll,
)

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O"""


def test_conll2003_reader(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(CONLL2003, encoding="utf-8")
    sents = read_conll2003(path)
    assert [s.tokens for s in sents] == [
        ("EU", "rejects", "German", "call", "."), ("Peter", "Blackburn"), ("BRUSSELS", "1996-08-22")]
    assert sents[0].tags == ("B-ORG", "O", "B-MISC", "O", "O")
    assert sents[1].tags == ("B-PER", "I-PER")
    assert read_conll2003(path, tag_column=1)[0].tags == ("NNP", "VBZ", "JJ", "NN", ".")
    assert read_conll2003(path, tag_column=2)[2].tags == ("B-NP", "I-NP")


def test_conll2003_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    lines = CONLL2003.splitlines()
    lines[5] = "call NN O"                                    # line 6 has 3 columns
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt:6: expected 4 columns .* got 3"):
        read_conll2003(path)
    with pytest.raises(ValueError, match=r":3: tag_column=7 is out of range"):
        read_conll2003(tmp_path / "bad.txt", tag_column=7)


def test_write_conll_round_trip(tmp_path):
    rows = [[("John", "NNP", "B-NP", "B-PER"), ("runs", "VBZ", "B-VP", "O")],
            [("Paris", "NNP", "B-NP", "B-LOC")]]
    path = write_conll(tmp_path / "rows.txt", rows, docstart=True)
    assert path.read_text().startswith("-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\n")
    assert read_conll2003(path) == [TaggedSentence(("John", "runs"), ("B-PER", "O")),
                                    TaggedSentence(("Paris",), ("B-LOC",))]
    sents = [TaggedSentence(("a", "b"), ("O", "B-X"))]
    assert read_conll2003(write_conll(tmp_path / "s.txt", sents)) == sents
    with pytest.raises(ValueError, match="contains whitespace"):
        write_conll(tmp_path / "x.txt", [[("a b", "O")]])


CONLLU = (
    "# newdoc id = d1\n"
    "# sent_id = 1\n"
    "# text = Vámonos al mar.\n"
    "1-2\tVámonos\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tVamos\tir\tVERB\tV\t_\t0\troot\t_\t_\n"
    "2\tnos\tnosotros\tPRON\tP\t_\t1\tobj\t_\t_\n"
    "3-4\tal\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "3\ta\ta\tADP\tS\t_\t5\tcase\t_\t_\n"
    "4\tel\tel\tDET\tD\t_\t5\tdet\t_\t_\n"
    "5\tmar\tmar\tNOUN\tN\t_\t1\tobl\t_\t_\n"
    "5.1\tva\tir\tVERB\tV\t_\t_\t_\t1:root\t_\n"
    "6\t.\t.\tPUNCT\tF\t_\t1\tpunct\t_\t_\n"
    "\n"
    "# sent_id = 2\n"
    "1\tHola\thola\tINTJ\tI\t_\t0\troot\t_\tSpaceAfter=No\n"
    "2\t!\t!\tPUNCT\tF\t_\t1\tpunct\t_\t_\n"
)


def test_conllu_reader(tmp_path):
    path = tmp_path / "es.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    sents = read_conllu(path)
    assert sents[0].tokens == ("Vamos", "nos", "a", "el", "mar", ".")
    assert sents[0].tags == ("VERB", "PRON", "ADP", "DET", "NOUN", "PUNCT")
    assert sents[1] == TaggedSentence(("Hola", "!"), ("INTJ", "PUNCT"))
    assert read_conllu(path, tag_field="xpos")[0].tags == ("V", "P", "S", "D", "N", "F")
    assert read_conllu(path, tag_field="deprel", token_field="lemma")[1].tokens == ("hola", "!")
    assert read_conllu(path, tag_field=7)[1].tags == ("root", "punct")
    with pytest.raises(ValueError, match="tag_field must be one of"):
        read_conllu(path, tag_field="nope")


@pytest.mark.parametrize(
    "lineno, replacement, message",
    [
        (5, "1\tVamos\tir\tVERB\tV\t_\t0\troot\t_", "expected 10 tab-separated fields, got 9"),
        (6, "3\tnos\tnosotros\tPRON\tP\t_\t1\tobj\t_\t_", "expected word ID 2, got 3"),
        (8, "x\ta\ta\tADP\tS\t_\t5\tcase\t_\t_", "ID must be an integer"),
    ],
)
def test_conllu_malformed_lines(tmp_path, lineno, replacement, message):
    lines = CONLLU.splitlines()
    lines[lineno - 1] = replacement
    path = tmp_path / "broken.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"broken\.conllu:{lineno}: {message}"):
        read_conllu(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        read_conll2003(tmp_path / "nothere.txt")
    (tmp_path / "empty.conllu").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty \(0 bytes\).*empty\.conllu"):
        read_conllu(tmp_path / "empty.conllu")


def test_encode_tagged(tmp_path):
    sents = [TaggedSentence(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC")),
             TaggedSentence(("Peter",), ("B-PER",))]
    token_vocab, tag_vocab = build_vocabs(sents)
    assert tag_vocab.tags == ("O", "B-MISC", "B-ORG", "B-PER")
    arrays = encode_tagged(sents + [TaggedSentence(("Unseen", "EU"), ("O", "B-ORG"))], token_vocab, tag_vocab)
    assert arrays.token_ids.shape == (3, 3) and arrays.token_ids.dtype == np.int32
    np.testing.assert_array_equal(arrays.lengths, [3, 1, 2])
    assert token_vocab.decode(arrays.token_ids[0]) == ["EU", "rejects", "German"]
    assert arrays.token_ids[1, 1:].tolist() == [0, 0]                 # <pad>
    assert arrays.token_ids[2, 0] == 1                                # <unk>
    assert tag_vocab.decode(arrays.tag_ids[0]) == ["B-ORG", "O", "B-MISC"]
    short = encode_tagged(sents, token_vocab, tag_vocab, max_len=2)
    assert short.token_ids.shape == (2, 2) and short.lengths.tolist() == [2, 1]
    lowered = encode_tagged(sents, build_vocabs(sents, lower=True)[0], tag_vocab, lower=True)
    assert lowered.token_ids[0, 0] != 1
    with pytest.raises(ValueError, match="unknown tag 'B-XYZ'"):
        encode_tagged([TaggedSentence(("a",), ("B-XYZ",))], token_vocab, tag_vocab)


def test_file_without_sentences(tmp_path):
    path = tmp_path / "only_docstart.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"only_docstart\.txt: no sentences found"):
        read_conll2003(path)


def test_crlf_files_and_line_numbers(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"a\tX\tO\r\nb X B-PER\r\n\r\nc X\r\n")
    with pytest.raises(ValueError, match=r"crlf\.txt:4: expected 3 columns"):
        read_conll2003(path)
    path.write_bytes(b"a\tX\tO\r\nb X B-PER\r\n\r\nc\xe2\x80\xa8d X O\r\n")   # U+2028 inside a token
    assert read_conll2003(path)[1].tokens == ("c\u2028d",)
