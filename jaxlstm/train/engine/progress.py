"""Progress output of the loop: a tqdm bar on a terminal, plain log lines elsewhere.

On a terminal, a bar with the latest loss and throughput, and one line above it per
evaluation. When the stream is not a terminal (a log file, CI, a notebook's captured
output), tqdm's carriage-return updates would pile up, so `Progress` prints instead one
line per logged step at most every `min_interval_s` seconds (and at the last step), and
one line per evaluation:

  quickstart step 120/600  loss 2.3114  seq/s 410
  quickstart step 200/600  valid: loss 2.0512  bpc 2.9593  accuracy 0.4123
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _format(metrics: dict) -> str:
    parts = []
    for name, value in metrics.items():
        name = name.split("/", 1)[1] if name.startswith("valid/") else name
        parts.append(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}")
    return "  ".join(parts)


class Progress:
    """tqdm's `update`/`set_postfix`/`close` (what the loop calls), plus `evaluated`.

    Args:
      total: the run's last step. initial: the step it starts from (resume).
      desc: the run's name, at the start of each line. enabled: False prints nothing.
      file: the stream (default stderr). min_interval_s: the least time between two
        plain training lines (evaluation lines are always printed).
      terminal: force the bar (True) or plain lines (False); default: `file.isatty()`.
    """

    def __init__(self, total: int, initial: int = 0, desc: str = "", *, enabled: bool = True,
                 file: Optional[TextIO] = None, min_interval_s: float = 5.0,
                 terminal: Optional[bool] = None):
        self.file = file or sys.stderr
        self.total, self.step, self.desc, self.enabled = total, initial, desc, enabled
        self.min_interval_s = min_interval_s
        self.terminal = self.file.isatty() if terminal is None else terminal
        self.bar = None
        self.postfix: dict = {}
        self.last_line = -float("inf")
        if enabled and self.terminal:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True,
                            file=self.file)

    def set_postfix(self, **values) -> None:
        """The latest training metrics (shown on the bar, or in the next plain line)."""
        self.postfix = values
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def update(self, n: int = 1) -> None:
        self.step += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and self.postfix:
            now = time.monotonic()
            if now - self.last_line >= self.min_interval_s or self.step >= self.total:
                self._line(f"step {self.step}/{self.total}  "
                           + "  ".join(f"{k.replace('_', '/')} {v}" for k, v in self.postfix.items()))
                self.last_line = now
            self.postfix = {}

    def evaluated(self, step: int, metrics: dict) -> None:
        """Show an evaluation's metrics as soon as they are computed."""
        if self.enabled and metrics:
            self._line(f"step {step}/{self.total}  valid: {_format(metrics)}")

    def _line(self, text: str) -> None:
        line = f"{self.desc} {text}" if self.desc else text
        if self.bar is not None:
            self.bar.write(line, file=self.file)
        else:
            print(line, file=self.file, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
