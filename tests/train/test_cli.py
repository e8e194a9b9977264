"""The `jaxlstm` command end to end on tiny configs."""

import json
import shutil
import subprocess
import sys

import pytest

from jaxlstm.cli import main


def test_train_eval_generate_inspect(tiny_lm, tmp_path, capsys):
    assert main(["train", str(tiny_lm), "train.steps=10", "--quiet"]) == 0
    run = tmp_path / "runs" / "tiny"
    assert "final: valid/loss=" in capsys.readouterr().out

    assert main(["eval", str(run)]) == 0
    out = json.loads((run / "eval.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert out["valid/bpc"] == pytest.approx(summary["best"], rel=1e-5)

    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "the c", "--length", "30", "--temperature", "0"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("the c") and len(text) == 35
    assert main(["generate", str(run), "--prompt", "the c", "--length", "30", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == text  # greedy decoding is deterministic

    assert main(["inspect", str(run), "--text", "the cat sat", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 10_000
    assert main(["inspect", str(run)]) == 0  # a held-out example
    assert (run / "gates.png").is_file()


def test_resume_flag_continues_a_stopped_run(tiny_lm, tmp_path):
    assert main(["train", str(tiny_lm), "train.steps=10", "--quiet"]) == 0
    assert main(["train", str(tiny_lm), "train.steps=20", "--resume", "--quiet"]) == 0
    summary = json.loads((tmp_path / "runs" / "tiny" / "summary.json").read_text())
    assert summary["steps"] == 20


def test_sweep_writes_table_and_plot(tiny_lm, tmp_path, capsys):
    assert main(["sweep", str(tiny_lm), "train.steps=10", "--grid", "model.cell=lstm,rnn",
                 "--seeds", "2", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "| cell=lstm | 2 |" in table and "| cell=rnn | 2 |" in table
    sweep = tmp_path / "runs" / "tiny"
    for name in ("results.md", "results.csv", "results.json", "sweep.png"):
        assert (sweep / name).is_file()
    assert len(list(sweep.glob("cell=*-seed*"))) == 4


def test_errors_are_one_line_with_exit_code_2(tiny_lm, tmp_path, capsys):
    assert main(["train", str(tiny_lm), "model.hiden_size=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxlstm train: error: config key model.hiden_size") and "Traceback" not in err
    assert main(["eval", str(tmp_path / "nowhere")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert main(["sweep", str(tiny_lm), "--grid", "model.cell"]) == 2
    assert "must have the form key=v1,v2" in capsys.readouterr().err


def test_console_script_is_installed():
    exe = shutil.which("jaxlstm") or str(__import__("pathlib").Path(sys.executable).parent / "jaxlstm")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("train", "sweep", "eval", "generate", "inspect"):
        assert command in out


def test_python_dash_m_jaxlstm_is_the_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "jaxlstm", "config", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([sys.executable, "-m", "jaxlstm", "train", str(tmp_path / "none.yaml")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "none.yaml" in bad.stderr
