"""Metric writers (JSONL, TensorBoard read back from its event files, W&B against a
fake `wandb` module always and offline when installed), the progress output when stderr is not a terminal, and summary.json's
provenance."""

import datetime
import io
import json
import math
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

from jaxlstm.train import fit, load_config
from jaxlstm.train.engine.progress import Progress
from jaxlstm.train.engine.writers import make_writers
from tests.train.scripted_task import scripted_config

RECORDS = [{"step": 5, "split": "train", "loss": 0.5, "grad_norm": 2.0, "seq_per_s": 100.0},
           {"step": 5, "split": "valid", "score": 0.25},
           {"step": 10, "split": "train", "loss": 0.125, "grad_norm": 1.0, "seq_per_s": 110.0}]


def read_event_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from TensorBoard event files, read record by record:
    each record is a little-endian uint64 length, a uint32 CRC, the serialized `Event`
    protobuf and another uint32 CRC (the TFRecord framing)."""
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_jsonl_and_tensorboard_writers_record_every_metric(tmp_path):
    writers = make_writers(["jsonl", "tensorboard"], tmp_path)
    for record in RECORDS:
        writers.write(record)
    writers.close()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == RECORDS
    scalars = read_event_scalars(tmp_path / "tensorboard")
    assert scalars["train/loss"] == [(5, 0.5), (10, 0.125)]
    assert scalars["train/grad_norm"] == [(5, 2.0), (10, 1.0)]
    assert scalars["valid/score"] == [(5, 0.25)]
    assert "train/step" not in scalars and "train/split" not in scalars


def test_unknown_writer_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"train.writers: each must be one of \['jsonl', "
                                         r"'tensorboard', 'wandb'\], got 'csv'"):
        make_writers(["csv"], tmp_path)


class FakeWandb(types.ModuleType):
    """A stand-in `wandb` module that records what the writer calls (the real package is
    not in `dev`, so CI runs the writer against this)."""

    def __init__(self):
        super().__init__("wandb")
        self.calls = []

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))
        fake = self

        class Run:
            def log(self, data, step=None):
                fake.calls.append(("log", dict(data), step))

            def finish(self):
                fake.calls.append(("finish",))

        return Run()


def test_wandb_writer_calls_init_log_and_finish(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    writers = make_writers(["wandb"], tmp_path, name="t", config={"a": 1})
    for record in RECORDS + [{"step": 15, "split": "train", "loss": float("nan"), "ok": True}]:
        writers.write(record)
    writers.close()
    assert fake.calls == [
        ("init", {"project": "jaxlstm", "name": "t", "dir": str(tmp_path), "config": {"a": 1},
                  "mode": "offline", "reinit": True}),
        ("log", {"train/loss": 0.5, "train/grad_norm": 2.0, "train/seq_per_s": 100.0}, 5),
        ("log", {"valid/score": 0.25}, 5),
        ("log", {"train/loss": 0.125, "train/grad_norm": 1.0, "train/seq_per_s": 110.0}, 10),
        ("log", {}, 15),  # NaN and booleans are not logged
        ("finish",)]


def test_fit_with_the_wandb_writer_logs_each_record_of_metrics_jsonl(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = load_config(scripted_config(tmp_path, [0.75, 0.5], steps=10, writers=["jsonl", "wandb"]))
    fit(cfg)
    run_dir = Path(cfg.run_dir)
    (_, init), *logs, last = fake.calls
    assert init["name"] == "scripted" and init["dir"] == str(run_dir) and init["mode"] == "offline"
    assert init["config"]["train"]["steps"] == 10 and init["config"]["task"] == "scripted_scores"
    assert last == ("finish",)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    expected = [("log", {f"{r.get('split', 'train')}/{k}": float(v) for k, v in r.items()
                         if k not in ("step", "split") and isinstance(v, (int, float))
                         and not isinstance(v, bool) and math.isfinite(v)}, r["step"])
                for r in records]
    assert logs == expected and len(logs) == len(records) >= 4


def test_wandb_writer_offline(tmp_path):
    pytest.importorskip("wandb")
    writers = make_writers(["wandb"], tmp_path, name="t", config={"a": 1})
    for record in RECORDS:
        writers.write(record)
    writers.close()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    logged = list(runs[0].glob("run-*.wandb"))  # the records, written for a later `wandb sync`
    assert len(logged) == 1 and logged[0].stat().st_size > 0


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()  # isatty() is False
    bar = Progress(600, 0, "demo", file=out, min_interval_s=3600)
    for step in range(1, 601):
        if step % 10 == 0:
            bar.set_postfix(loss=f"{1 / step:.4f}", seq_s="100")
        bar.update(1)
        if step % 200 == 0:
            bar.evaluated(step, {"valid/loss": 0.5, "valid/bpc": 0.72})
    bar.close()
    lines = out.getvalue().splitlines()
    # the first logged step, the three evaluations and the last step; no carriage returns
    assert lines == ["demo step 10/600  loss 0.1000  seq/s 100",
                     "demo step 200/600  valid: loss 0.5  bpc 0.72",
                     "demo step 400/600  valid: loss 0.5  bpc 0.72",
                     "demo step 600/600  loss 0.0017  seq/s 100",
                     "demo step 600/600  valid: loss 0.5  bpc 0.72"]
    assert "\r" not in out.getvalue()


def test_fit_shows_evaluations_as_computed_and_writes_provenance(tmp_path, capsys):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cfg = load_config(scripted_config(tmp_path, [0.75, 0.5], progress=True, steps=10,
                                      writers=["jsonl", "tensorboard"]))
    summary = fit(cfg)
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("scripted")]
    assert ours[0].startswith("scripted step 5/10  loss ")
    assert ours[1:] == ["scripted step 5/10  valid: score 0.75", ours[2],
                        "scripted step 10/10  valid: score 0.5"]
    assert ours[2].startswith("scripted step 10/10  loss ") and not any("\r" in line for line in ours)
    assert read_event_scalars(cfg.run_dir / "tensorboard")["valid/score"] == [(5, 0.75), (10, 0.5)]

    saved = json.loads((cfg.run_dir / "summary.json").read_text())
    prov = saved["provenance"]
    assert prov == summary["provenance"]
    import jaxlstm

    assert prov["jaxlstm"] == jaxlstm.__version__
    created = datetime.datetime.fromisoformat(prov["created_utc"].replace("Z", "+00:00"))
    assert before <= created <= datetime.datetime.now(datetime.timezone.utc)
    repo = Path(jaxlstm.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert prov["git_commit"] == head.stdout.strip()
