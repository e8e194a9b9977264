"""pyproject.toml: floors no lower than the APIs the code uses, equal to what .ci/floors
tests, heavy packages behind extras, and the train extra complete for the training code."""

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]

# (package, version that introduced the API, a string whose presence in the sources means
# the API is used, where to look). Checked by hand against each package's releases;
# docs/install.md gives the reasons.
API_FLOORS = [
    ("jax", "0.5.0", "jax.ffi.", "jaxlstm"),
    ("jax", "0.8.0", "jax.enable_x64(", "tests"),
    ("flax", "0.12.0", "nnx.List(", "jaxlstm"),
    ("optax", "0.2.5", "optax.tree.", "jaxlstm"),
    ("orbax-checkpoint", "0.11.14", "AnyPreservationPolicy", "jaxlstm"),
]


def _name(req: Requirement) -> str:
    return req.name.lower().replace("_", "-")


def floors() -> dict[str, Version]:
    """{package: the lowest version allowed} over the base and every extra."""
    out = {}
    for text in PROJECT["dependencies"] + [r for reqs in EXTRAS.values() for r in reqs]:
        req = Requirement(text)
        for spec in req.specifier:
            if spec.operator == ">=":
                out[_name(req)] = Version(spec.version)
    return out


def test_floors_are_not_below_the_apis_used():
    declared = floors()
    for package, introduced, marker, where in API_FLOORS:
        used = any(marker in p.read_text(encoding="utf-8") for p in (ROOT / where).rglob("*.py"))
        if used:
            assert declared[package] >= Version(introduced), (
                f"{where} uses {marker!r} (new in {package} {introduced}), but pyproject.toml "
                f"allows {package} >= {declared[package]}")


def test_ci_floors_pin_exactly_the_declared_floors():
    pinned = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pinned[_name(req)] = Version(next(iter(req.specifier)).version)
    declared = floors()
    for package, version in pinned.items():
        assert declared.get(package) == version, f"{package}: floors.txt {version}, pyproject {declared.get(package)}"
    needed = {"jax", "jaxlib", "numpy", "flax", "optax", "orbax-checkpoint", "matplotlib"}
    assert needed <= set(pinned)


def test_the_core_install_is_slim():
    base = {_name(Requirement(r)) for r in PROJECT["dependencies"]}
    assert {"jax", "jaxlib", "numpy"} <= base
    heavy = {"flax", "optax", "orbax-checkpoint", "matplotlib", "tensorboardx", "wandb", "torch",
             "omegaconf", "tqdm"}
    assert not base & heavy, f"heavy packages in the core install: {base & heavy}"


def _expand(extra: str, seen=None) -> set[str]:
    """The package names an extra brings, following jaxlstm[...] self-references."""
    seen = set() if seen is None else seen
    names = set()
    for text in EXTRAS[extra]:
        req = Requirement(text)
        if _name(req) == "jaxlstm":
            for sub in req.extras - seen:
                seen.add(sub)
                names |= _expand(sub, seen)
        else:
            names.add(_name(req))
    return names


def test_dev_installs_every_extra_but_wandb():
    dev = _expand("dev")
    for extra in EXTRAS:
        if extra not in ("dev", "wandb"):
            assert _expand(extra) <= dev, f"dev lacks {_expand(extra) - dev} of [{extra}]"
    assert {"pytest", "mkdocs", "mkdocstrings"} <= dev


def _requirement_closure(names: set[str]) -> set[str]:
    """Installed distributions reachable from `names` through their requirements."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_name(req))
    return seen


def _module_level_imports(path: Path) -> set[str]:
    """Top-level names of the modules `path` imports at module level (function-level
    imports are how jaxlstm reaches optional packages: tensorboardX, wandb, torch, ...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_train_extra_brings_everything_the_package_imports():
    modules = set()
    for path in (ROOT / "jaxlstm").rglob("*.py"):
        if "interop" not in path.parts:   # torch, behind the torch extra
            modules |= _module_level_imports(path)
    modules -= set(sys.stdlib_module_names) | {"jaxlstm", "__future__"}
    owners = importlib.metadata.packages_distributions()
    unknown = {m for m in modules if m not in owners}
    assert not unknown, f"imported modules of no installed distribution: {unknown}"
    imported = {_name(Requirement(d)) for m in modules for d in owners[m]}
    base = {_name(Requirement(r)) for r in PROJECT["dependencies"]}
    provided = _requirement_closure(base | _expand("train"))
    missing = imported - provided
    assert not missing, f"jaxlstm imports {missing} at module level, which [train] does not install"
    core_imports = set()
    for path in (ROOT / "jaxlstm" / "core").rglob("*.py"):
        core_imports |= _module_level_imports(path)
    core_dists = {_name(Requirement(d)) for m in core_imports - set(sys.stdlib_module_names)
                  - {"jaxlstm", "__future__"} for d in owners[m]}
    assert core_dists <= _requirement_closure(base), "the core imports beyond the core install"
