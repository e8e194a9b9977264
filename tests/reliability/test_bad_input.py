"""One table of wrong calls across the public API: each gives one clear error that names
the argument or key and the expected and actual values — never a deep traceback.

(The core, module and config cases in tests/core/test_errors.py, tests/nn/test_modules.py
and tests/train/test_config.py are counted with these in docs/testing.md.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
from jaxlstm.cli import main
from jaxlstm.data import load_imdb, read_conll2003, read_conllu
from jaxlstm.data.text import CharVocab, load_text
from jaxlstm.nn import CRF, LSTM, BiLSTMCRF, SequenceClassifier
from jaxlstm.train import ConfigError, load_config

P = J.init_lstm(jax.random.key(0), 3, 4)


def _file(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


CASES = [
    # core
    ("nan input, check asked", lambda t: J.check_finite("xs", jnp.array([[0.0, jnp.nan]])), ValueError, r"xs must be finite, got nan at index \(0, 1\)"),
    ("inf input, check asked", lambda t: J.check_finite("xs", np.array([1.0, np.inf])), ValueError, r"xs must be finite, got inf at index \(1,\)"),
    ("bool input", lambda t: J.lstm(P, jnp.ones((5, 3), bool)), TypeError, "xs must be a floating-point array, got dtype bool"),
    ("gru state size", lambda t: J.gru(J.init_gru(jax.random.key(0), 3, 4), jnp.ones((5, 3)), jnp.zeros(5)), ValueError, r"h0 must have leaf shapes \[\(4,\)\], got \[\(5,\)\]"),
    ("peephole params without spec", lambda t: J.lstm(J.init_lstm(jax.random.key(0), 3, 4, J.CellSpec(peepholes=True)), jnp.ones((5, 3))), ValueError, r"params.w_peep has shape \(3, 4\) but CellSpec\(variant='vanilla', peepholes=False\)"),
    ("bidirectional pair missing", lambda t: J.lstm_stack([P], jnp.ones((5, 3)), is_bidirectional=True), TypeError, r"bidirectional layer params must be a \(forward, backward\) pair, got LSTMParams"),
    # NNX modules
    ("module int input", lambda t: LSTM(3, 4, rngs=nnx.Rngs(0))(jnp.ones((2, 5, 3), jnp.int32)), TypeError, "xs must be a floating-point array, got dtype int32"),
    ("module float lengths", lambda t: LSTM(3, 4, rngs=nnx.Rngs(0))(jnp.ones((2, 5, 3)), lengths=jnp.array([1.0, 2.0])), TypeError, "lengths must be an integer array"),
    ("module lengths batch", lambda t: LSTM(3, 4, rngs=nnx.Rngs(0))(jnp.ones((2, 5, 3)), lengths=jnp.array([5, 5, 5])), ValueError, r"lengths must have shape \(2,\) \(one per sequence\), got shape \(3,\)"),
    ("classifier inputs", lambda t: SequenceClassifier(2, rngs=nnx.Rngs(0)), ValueError, "needs exactly one of vocab_size"),
    ("classifier pooling", lambda t: SequenceClassifier(2, in_features=3, pooling="max", rngs=nnx.Rngs(0)), ValueError, r"pooling must be one of \['last', 'mean'\], got 'max'"),
    ("crf emissions K", lambda t: CRF(3, rngs=nnx.Rngs(0)).decode(jnp.ones((2, 4, 5))), ValueError, r"K=num_tags=3, got shape \(2, 4, 5\)"),
    ("tagger tags shape", lambda t: BiLSTMCRF(10, 3, rngs=nnx.Rngs(0)).log_likelihood(jnp.zeros((2, 4), jnp.int32), jnp.zeros((2, 5), jnp.int32)), ValueError, r"tags must have shape \(B, T\)"),
    ("unknown cell for proj", lambda t: LSTM(3, 4, num_layers=0, rngs=nnx.Rngs(0)), ValueError, "num_layers must be a positive int, got 0"),
    # data loaders
    ("missing text file", lambda t: load_text(t / "nope.txt"), FileNotFoundError, "nope.txt"),
    ("empty text file", lambda t: load_text(_file(t, "empty.txt", b"")), ValueError, "empty.txt.*empty|empty.*empty.txt"),
    ("non-UTF-8 text", lambda t: load_text(_file(t, "latin.txt", "caf\u00e9".encode("latin-1"))), ValueError, r"latin.txt.*(byte|offset) 3"),
    ("unknown character", lambda t: CharVocab.build("abc").encode("abz"), ValueError, r"character 'z' at position 2 is not in the vocabulary"),
    ("conll malformed line", lambda t: read_conll2003(_file(t, "bad.conll", b"EU B-ORG\nrejects O\n\nGerman\n")), ValueError, r"bad.conll:4"),
    ("conllu wrong columns", lambda t: read_conllu(_file(t, "bad.conllu", b"# text\n1\tThe\tthe\tDET\n")), ValueError, r"bad.conllu:2"),
    ("imdb layout", lambda t: load_imdb(t), FileNotFoundError, "train/(pos|neg)"),
    # config files
    ("malformed yaml", lambda t: load_config(_file(t, "c.yaml", b"model: [1, 2\n")), ConfigError, "is not valid YAML"),
    ("mistyped key", lambda t: load_config(_file(t, "c.yaml", b"optim:\n  learnin_rate: 0.1\n")), ConfigError, r"config key optim.learnin_rate"),
    ("wrong type", lambda t: load_config(_file(t, "c.yaml", b"train:\n  steps: many\n")), ConfigError, r"config key train.steps"),
    ("bad data file", lambda t: load_config(_file(t, "c.yaml", b"data:\n  seq_len: 1\n")), ConfigError, r"config key data.seq_len: must be >= 2, got 1"),
    ("empty yaml", lambda t: load_config(_file(t, "c.yaml", b"")), ConfigError, r"c.yaml is empty; it must set at least `task`"),
    ("comments-only yaml", lambda t: load_config(_file(t, "c.yaml", b"# to do\n")), ConfigError, r"c.yaml is empty"),
    ("nan learning rate", lambda t: load_config(_file(t, "c.yaml", b"optim:\n  learning_rate: .nan\n")), ConfigError, r"config key optim.learning_rate: must be a finite number > 0, got nan"),
    ("inf learning rate", lambda t: load_config(_file(t, "c.yaml", b"task: adding\n"), ["optim.learning_rate=inf"]), ConfigError, r"config key optim.learning_rate: must be a finite number > 0, got inf"),
    ("nan clip norm", lambda t: load_config(_file(t, "c.yaml", b"task: adding\n"), ["optim.clip_norm=nan"]), ConfigError, r"config key optim.clip_norm: must be a finite number > 0, got nan"),
    ("directory as config", lambda t: load_config(t), IsADirectoryError, r"config file .* is a directory; give the YAML file"),
    ("yaml error line", lambda t: load_config(_file(t, "c.yaml", b"a: 1\nb: [2\n")), ConfigError, r"c.yaml is not valid YAML: .* at line 3, column 1$"),
]


@pytest.mark.parametrize("call,exc,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_error(tmp_path, call, exc, message):
    with pytest.raises(exc, match=message):
        call(tmp_path)


CLI_CASES = [
    (["train", "missing.yaml"], "config file not found: missing.yaml"),
    (["train", "{cfg}", "model.num_layers=two"], "config key model.num_layers"),
    (["train", "{cfg}", "data.source={tmp}/none.txt"], "none.txt"),
    (["generate", "{tmp}", "--prompt", "x"], "is not a run folder"),
    (["inspect", "{tmp}"], "is not a run folder"),
    (["train", "{tmp}"], "is a directory; give the YAML file"),
    (["train", "{tmp}/empty.yaml"], "empty.yaml is empty"),
    (["train", "{tmp}/broken.yaml"], "broken.yaml is not valid YAML: "),
    (["train", "{cfg}", "optim.learning_rate=nan"], "optim.learning_rate: must be a finite number > 0, got nan"),
]


@pytest.mark.parametrize("argv,message", CLI_CASES, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(CLI_CASES)])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    cfg = _file(tmp_path, "c.yaml", f"out_dir: {tmp_path}/runs\ntrain: {{steps: 2, progress: false}}\n".encode())
    _file(tmp_path, "empty.yaml", b"")
    _file(tmp_path, "broken.yaml", b"model:\n  hidden_size: [8\ntrain: {steps: 2}\n")
    argv = [a.format(cfg=cfg, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
