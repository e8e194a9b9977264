"""Shared fixtures: tiny configs for end-to-end training tests (seconds each on 2 CPU cores)."""

import pytest

TEXT = ("the cat sat on the mat. the dog sat on the log. " * 40 +
        "a cat and a dog sat on a mat and a log. " * 20)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def tiny_lm(tmp_path, text_file):
    """A config file for a tiny character LM on a generated text file."""
    path = tmp_path / "tiny.yaml"
    path.write_text(f"""
name: tiny
task: char_lm
out_dir: {tmp_path / 'runs'}
model: {{hidden_size: 16, embed_dim: 8}}
optim: {{learning_rate: 0.01}}
train: {{steps: 20, batch_size: 8, eval_every: 10, checkpoint_every: 10, log_every: 5, progress: false}}
data: {{source: {text_file}, seq_len: 16, eval_batches: 2, eval_batch_size: 8}}
""")
    return path
