"""The `jaxlstm` command: train | sweep | eval | generate | inspect | config.

  jaxlstm train CONFIG [key=value ...] [--resume] [--distributed [--coordinator-address
                HOST:PORT --num-processes N --process-id I]]
  jaxlstm sweep CONFIG --grid key=v1,v2 [--grid ...] [--seeds N] [key=value ...]
  jaxlstm eval RUN_DIR [--which best|latest]
  jaxlstm generate RUN_DIR --prompt TEXT [--length N] [--temperature T] [--seed S]
  jaxlstm inspect RUN_DIR [--text TEXT] [--layer K] [--out PNG]
  jaxlstm config [TASK]       the config keys of TASK with their types and defaults
  jaxlstm --version

Errors in configs, data, checkpoints or arguments are printed as one line (exit code
2), as is a run folder in use by another run; a diverged run exits with 1; a run
stopped by SIGINT (Ctrl-C) or SIGTERM (pre-emption) saves a checkpoint and exits with
130 or 143 (docs/reliability.md). Only the chosen command imports Flax, Optax, Orbax
and matplotlib, so `--help` and `--version` return quickly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import traceback
from pathlib import Path

from jaxlstm.version import __version__


def load_config(*args, **kwargs):
    """`jaxlstm.train.lab.config.load_config`, imported when a command needs it."""
    from jaxlstm.train.lab.config import load_config as load

    return load(*args, **kwargs)


def _config_error(message: str) -> Exception:
    from jaxlstm.train.engine.config_checks import ConfigError

    return ConfigError(message)


def _train(args) -> int:
    from jaxlstm.train.lab.config_run import fit

    overrides = list(args.overrides) + (["train.distributed=true"] if args.distributed else [])
    cfg = load_config(args.config, overrides)
    if cfg.train.distributed:
        from jaxlstm.train.engine.distributed import initialize

        initialize(args.coordinator_address, args.num_processes, args.process_id,
                   heartbeat_timeout_seconds=args.heartbeat_timeout)
    summary = fit(cfg, resume=args.resume, quiet=args.quiet)
    _print_summary(summary, cfg.run_dir)
    return 0


def _print_summary(summary: dict, run_dir: Path) -> None:
    final = ", ".join(f"{k}={v:.4g}" for k, v in summary["final"].items())
    base = ", ".join(f"{k}={v:.4g}" for k, v in summary["baseline"].items())
    print(f"run folder: {run_dir}")
    print(f"final: {final}")
    if base:
        print(f"baseline: {base}")
    print(f"best {summary['monitor']} = {summary['best']:.4g} at step {summary['best_step']}; "
          f"{summary['param_count']} parameters; {summary['wall_time_s']} s")


def _parse_grid(items) -> dict:
    grid = {}
    for item in items:
        if "=" not in item:
            raise _config_error(f"--grid {item!r} must have the form key=v1,v2,...")
        key, values = item.split("=", 1)
        if key in grid:
            raise _config_error(f"--grid {key}: given twice ({','.join(grid[key])} and {values}); "
                                f"give each key once with all its values")
        grid[key] = values.split(",")
    return grid


def _sweep(args) -> int:
    from jaxlstm.train.lab.config_run import fit
    from jaxlstm.train.lab.sweep import write_sweep_report

    grid = _parse_grid(args.grid)
    if args.seeds < 1:
        raise _config_error(f"--seeds: must be >= 1, got {args.seeds}")
    base = load_config(args.config, args.overrides)
    seeds = range(base.train.seed, base.train.seed + args.seeds)
    sweep_dir = base.run_dir
    planned = []  # every point's config is loaded (and so checked) before the first one trains
    for combo in list(itertools.product(*grid.values())) or [()]:
        point = dict(zip(grid, combo))
        label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in point.items()) or "base"
        for seed in seeds:
            overrides = list(args.overrides) + [f"{k}={v}" for k, v in point.items()] + [
                f"train.seed={seed}", f"out_dir={sweep_dir}", f"name={label}-seed{seed}"]
            try:
                cfg = load_config(args.config, overrides)
            except Exception as e:
                raise type(e)(f"grid point {label}: {e}") from None
            planned.append((point, label, seed, cfg))
    runs = []
    for point, label, seed, cfg in planned:
        print(f"== {label} seed {seed}", file=sys.stderr)
        summary = fit(cfg, resume=args.resume, quiet=args.quiet)
        runs.append({"point": point, "label": label, "seed": seed, "summary": summary})
    table = write_sweep_report(runs, sweep_dir, title=f"{base.name}: {base.task}")
    print(table)
    return 0


def _note(command: str):
    """How eval/generate/inspect say which checkpoint replaces a damaged one: one line."""
    return lambda message: print(f"jaxlstm {command}: note: {message}", file=sys.stderr)


def _eval(args) -> int:
    from jaxlstm.train.lab.config_run import load_run

    cfg, trainer = load_run(args.run_dir, which=args.which, notify=_note("eval"))
    _, eval_step = trainer.compiled_steps()
    metrics = trainer.evaluate(eval_step)
    out = {"run": str(args.run_dir), "checkpoint": args.which, "step": trainer.step, **metrics,
           "baseline": trainer.task.baseline()}
    (Path(args.run_dir) / "eval.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


def _generate(args) -> int:
    import json as _json

    from jaxlstm.train.lab.generate import check_sample_args, sample_text
    from jaxlstm.train.lab.load_model import load_model
    from jaxlstm.train.lab.tasks.char_lm import vocab_of

    check_sample_args(args.prompt, args.length, args.temperature, args.seed)  # before loading
    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: no config.yaml in it")
    if not (run_dir / "model.json").is_file():  # a run of jaxlstm 0.1: rebuild it with its data
        from jaxlstm.train.lab.config_run import load_run

        _, trainer = load_run(run_dir, notify=_note("generate"))
        model, spec = trainer.model, {"task": trainer.task.name, "dims": trainer.task.model_dims()}
    else:
        spec = _json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
        model = None
    if "chars" not in spec["dims"]:
        raise _config_error(f"generate needs a character language-model run (task char_lm or "
                            f"stream_lm); {run_dir} is task {spec['task']!r}")
    model = model or load_model(run_dir, notify=_note("generate"))
    print(sample_text(model, vocab_of(spec["dims"]), args.prompt, args.length,
                      temperature=args.temperature, seed=args.seed))
    return 0


def _inspect(args) -> int:
    from jaxlstm.train.lab.inspect import inspect_run

    path = inspect_run(args.run_dir, text=args.text, layer=args.layer, out=args.out,
                       notify=_note("inspect"))
    print(f"wrote {path}")
    return 0


def _config(args) -> int:
    from jaxlstm.train.lab.schema import config_schema, task_summaries

    if args.task is None:
        for name, doc in task_summaries().items():
            print(f"{name:16s} {doc}")
        print("\n`jaxlstm config TASK` prints a task's keys with their types and defaults.")
        return 0
    print(config_schema(args.task, args.cell), end="")
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="YAML config file, e.g. configs/quickstart.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides in dotted form, e.g. train.steps=100 model.hidden_size=64 "
                        "(`jaxlstm config TASK` lists the keys)")
    p.add_argument("--resume", action="store_true",
                   help="continue an existing run folder from its last readable checkpoint "
                        "(without it an existing run folder is an error)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or periodic log lines (metrics files are still written)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxlstm", description="Train, sweep, evaluate and inspect jaxlstm experiments.",
        epilog="`jaxlstm COMMAND --help` describes a command's options.")
    parser.add_argument("--version", action="version", version=f"jaxlstm {__version__}",
                        help="print the jaxlstm version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a config into a run folder",
                       description="Train CONFIG into OUT_DIR/NAME (config.yaml, metrics.jsonl, "
                                   "checkpoints/, learning_curves.png, summary.json).")
    _add_run_options(p)
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize first (= train.distributed=true)")
    p.add_argument("--coordinator-address", default=None, metavar="HOST:PORT",
                   help="address of process 0 (default: $JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=int, default=None, metavar="N",
                   help="number of processes (default: $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="this process's index, 0..N-1 (default: $JAX_PROCESS_ID)")
    p.add_argument("--heartbeat-timeout", type=int, default=100, metavar="SECONDS",
                   help="multi-host: a process silent this long counts as dead, and the others stop")
    p.set_defaults(func=_train)

    p = sub.add_parser("sweep", help="train a grid of configs (and seeds) and compare them",
                       description="Train every point of the grid (the product of the --grid "
                                   "values) for --seeds seeds into OUT_DIR/NAME/<point>-seed<s>, "
                                   "then write results.md, results.csv (one column per grid key), "
                                   "results.json and sweep.png there.")
    _add_run_options(p)
    p.add_argument("--grid", action="append", default=[], metavar="key=v1,v2,...",
                   help="a config key and the values to try; repeat for more keys (the grid is "
                        "their product)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="seeds per grid point: train.seed, train.seed + 1, ... (default: 1)")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("eval", help="evaluate a run's checkpoint on its held-out data",
                       description="Re-evaluate a run's checkpoint on the held-out data; prints "
                                   "and writes RUN_DIR/eval.json.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder written by train")
    p.add_argument("--which", choices=("best", "latest"), default="best",
                   help="the checkpoint: best by the monitored metric, or the latest (default: best)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("generate", help="sample text from a language-model run",
                       description="Continue --prompt with characters sampled from a char_lm run.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a char_lm run folder")
    p.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    p.add_argument("--length", type=int, default=200, metavar="N",
                   help="characters to generate (default: 200)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="softmax temperature; 0 is greedy decoding (default: 0.8)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="PRNG seed of the sampling; the same seed gives the same text (default: 0)")
    p.set_defaults(func=_generate)

    p = sub.add_parser("inspect", help="plot gate activations and cell state over time",
                       description="Heatmaps of the input, forget and output gates and the cell "
                                   "state (unit x time) of one layer on one input.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder of an LSTM model")
    p.add_argument("--text", default=None,
                   help="input text (language models); default: a held-out example")
    p.add_argument("--layer", type=int, default=0, metavar="K", help="the layer to plot (default: 0)")
    p.add_argument("--out", type=Path, default=None, metavar="PNG",
                   help="where to write the figure (default: RUN_DIR/gates.png)")
    p.set_defaults(func=_inspect)

    p = sub.add_parser("config", help="list the config keys of a task with types and defaults",
                       description="Print TASK's full config (every key, its type and default) "
                                   "as YAML; without TASK, list the tasks.")
    p.add_argument("task", nargs="?", default=None, metavar="TASK",
                   help="a task name (char_lm, adding, ...); omit to list them")
    p.add_argument("--cell", default="lstm", metavar="CELL",
                   help="the model.cell whose own keys are set (default: lstm); every other "
                        "cell's keys are listed as comments")
    p.set_defaults(func=_config)
    return parser


def _out_of_memory(e: BaseException) -> bool:
    """A host allocation that failed (NumPy's MemoryError) or XLA's RESOURCE_EXHAUSTED."""
    return isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in str(e)[:200]


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options too (`train CONFIG --quiet train.steps=5`).
    stray = [e for e in extra if e.startswith("-") or "=" not in e or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    try:
        from jaxlstm.train.engine import distributed
        from jaxlstm.train.engine.checkpoint import CheckpointError
        from jaxlstm.train.engine.config_checks import ConfigError
        from jaxlstm.train.engine.checkpoint import quiet_orbax_background_errors
        from jaxlstm.train.lab.config_run import RunExists, TrainingDiverged
        from jaxlstm.train.engine.run_folder import RunFolderError
        from jaxlstm.train.engine.runlock import RunLocked
    except ModuleNotFoundError as e:
        print(f"jaxlstm {args.command}: error: the command needs the training dependencies "
              f"(no module {e.name!r}): pip install 'jaxlstm[train]'", file=sys.stderr)
        return 2

    prefix = f"jaxlstm {args.command}"
    quiet_orbax_background_errors()
    try:
        code = args.func(args)
    except KeyboardInterrupt as e:  # RunInterrupted says which signal: 130 SIGINT, 143 SIGTERM
        code = getattr(e, "exit_code", 130)
    except Exception as e:
        if distributed.is_multiprocess() and distributed.lost_contact(e):
            code = distributed.report_lost_contact(e, prefix)
        elif _out_of_memory(e):
            print(f"{prefix}: error: out of memory ({' '.join(str(e).split())[:200]}); lower "
                  f"train.batch_size, the model's size or the sequence length (no run folder "
                  f"was left behind unless a checkpoint had been saved)", file=sys.stderr)
            code = 2
        elif isinstance(e, (ConfigError, RunExists, RunLocked, RunFolderError, CheckpointError,
                            FileNotFoundError, IsADirectoryError, ValueError, TypeError)):
            print(f"{prefix}: error: {e}", file=sys.stderr)
            code = 2
        elif isinstance(e, TrainingDiverged):
            print(f"{prefix}: training diverged: {e}", file=sys.stderr)
            code = 1
        elif distributed.is_multiprocess():
            traceback.print_exc()
            code = 1
        else:
            raise
    return distributed.leave(code)


if __name__ == "__main__":
    sys.exit(main())
