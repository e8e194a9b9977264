"""The package's import graph has no loops, and the layers import downwards only
(docs/architecture.md: cli -> train -> nn -> core -> kernels; data beside train).

The graph is read from the source with `ast` (every import statement, deferred ones too);
`from a.b import c` counts as importing the module a.b.c when that is a module, else a.b.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxlstm"
# Which top-level parts may import which (each may import itself and everything listed).
ALLOWED = {
    "core": {"core", "kernels"},  # the compiled kernels and their build check sit below the core
    "kernels": set(),
    "interop": {"core"},
    "nn": {"core", "nn", "interop"},
    "data": {"data"},
    "train": {"core", "nn", "data", "train", "interop", "version"},
    "cli": {"core", "nn", "data", "train", "interop", "version"},
    "version": set(),
    "__init__": {"core", "version"},
    "__main__": {"cli"},
}


def _modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("jaxlstm",) + path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, name: str, modules: dict) -> set:
    """Every import in the file, also those inside functions: a deferred import hides a
    loop from the interpreter, not from the design."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in modules and t != name}
    return out


def _graph():
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_no_import_loops():
    graph = _graph()
    state, stack, loops = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                loops.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not loops, "import loops:\n" + "\n".join(" -> ".join(loop) for loop in loops)


def test_layers_import_downwards():
    wrong = []
    for name, targets in _graph().items():
        part = name.split(".")[1] if "." in name else "__init__"
        for target in targets:
            to = target.split(".")[1] if "." in target else "__init__"
            if to != part and to not in ALLOWED[part]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_engine_imports_only_the_engine_of_train():
    """`jaxlstm.train.engine` trains any model (`fit_model`): it imports nothing of the lab
    (configs, schema, tasks, `fit(cfg)`), nor their deprecated paths jaxlstm/train/*.py."""
    wrong = [f"{name} -> {target}" for name, targets in _graph().items()
             if name.startswith("jaxlstm.train.engine.") for target in targets
             if target.startswith("jaxlstm.train.") and not target.startswith("jaxlstm.train.engine.")]
    assert not wrong, "the engine imports the lab or a deprecated path:\n" + "\n".join(wrong)


def test_nn_does_not_import_train():
    wrong = [f"{name} -> {target}" for name, targets in _graph().items()
             if name.startswith("jaxlstm.nn") for target in targets
             if target == "jaxlstm.train" or target.startswith("jaxlstm.train.")]
    assert not wrong, "jaxlstm.nn imports jaxlstm.train:\n" + "\n".join(wrong)
