"""The guides' code runs as written: each page's Python blocks, in order, in one scope
(the blocks assert their own claims against a second computation)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["docs/guides/transformations.md"]


@pytest.mark.slow  # every example of the page end to end: 40 s on 2 cores
@pytest.mark.parametrize("page", PAGES)
def test_guide_examples_run(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"{page} has no Python examples"
    scope: dict = {}
    for k, block in enumerate(blocks):
        exec(compile(block, f"{page} block {k}", "exec"), scope)
