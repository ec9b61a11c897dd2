"""The library's layers: every import (function-local ones included) points down the documented layout, no
module imports itself round a cycle, and the configuration, analysis, report and figure layers never load
torch (a table job's process holds no torch)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "robusttag"
#: From the bottom up; a module imports only from its own layer or those below it.
LAYERS = (
    ("errors", "io", "features", "config", "paths", "history", "scores", "metrics", "visibility"),
    ("jets", "sources", "convert", "preprocess"),
    ("data", "model", "losses", "architectures", "attacks", "validation", "onnx_graph", "external", "checkpoints"),
    ("training", "evaluate", "strong_attacks", "distances"),
    ("analysis", "report", "figures", "export"),
    ("cli",),
)
TORCH_FREE = ("config", "paths", "history", "scores", "metrics", "visibility", "preprocess", "analysis", "report")
TORCH_FREE += ("figures",)


def _modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (resolved to modules, not names)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "robusttag"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "robusttag":
                continue
            for alias in node.names:  # `from . import x` names a module; `from .m import f` a name in m
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


def _layer(name: str) -> int:
    top = _top(name)
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_every_module_is_in_a_layer_and_in_the_documented_layout():
    layout = re.search(r"```\n(workflow/Snakefile.*?)```", (ROOT / "docs/development.md").read_text(), re.S)
    assert layout, "docs/development.md has no layout block"
    tops = {_top(name) for name in MODULES} - {""}
    unlayered = sorted(top for top in tops if not any(top in layer for layer in LAYERS))
    assert not unlayered, f"modules in no layer of this test: {unlayered}"
    undocumented = sorted(top for top in tops if not re.search(rf"\b{top}\b", layout.group(1)))
    assert not undocumented, f"modules the documentation's layout does not list: {undocumented}"


def test_imports_point_down_the_layers():
    upward = sorted(
        f"{name} -> {other}"
        for name, others in GRAPH.items()
        if _top(name)
        for other in others
        if _top(other) and _layer(other) > _layer(name)
    )
    assert not upward, upward


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for other in sorted(GRAPH[name]):
            if other.startswith(f"{name}."):  # a package's __init__ importing its own modules is no cycle
                continue
            if state.get(other) == 1:
                return [*path[path.index(other) :], other] if other in path else [name, other]
            if other not in state and (cycle := visit(other, [*path, other])):
                return cycle
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state:
            cycle = visit(name, [name])
            assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    """The check above can fail: two modules importing each other are caught."""
    fake = {"robusttag.a": {"robusttag.b"}, "robusttag.b": {"robusttag.a"}}
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", fake)
    with pytest.raises(AssertionError, match="robusttag.a -> robusttag.b -> robusttag.a"):
        test_no_import_cycle()


@pytest.mark.parametrize("layer", TORCH_FREE)
def test_torch_free_layers_load_no_torch(layer):
    names = sorted(name for name in MODULES if _top(name) == layer)
    code = f"import sys; import {', '.join(names)}; print(sorted(m for m in sys.modules if m.startswith('torch')))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "[]\n", f"{layer} loads torch"


def _loaded_by_scripts(scripts: tuple[str, ...], packages: tuple[str, ...]) -> tuple[list[str], str]:
    """What the robusttag imports of workflow/scripts/``scripts`` load of ``packages`` in a fresh Python: the
    imports, and the loaded modules as printed."""
    imports = set()
    for script in scripts:
        text = (ROOT / "workflow/scripts" / script).read_text()
        imports |= set(re.findall(r"^from (robusttag[\w.]*) import", text, re.M))
    loaded = f"sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})"
    code = f"import sys; import {', '.join(sorted(imports))}; print({loaded})"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return sorted(imports), run.stdout


def test_a_table_jobs_process_holds_no_torch():
    """What workflow/scripts/tables.py and shifted_tables.py import: the table jobs run without torch."""
    scripts = ("tables.py", "shifted_tables.py", "compare_architectures.py", "figure.py")
    imports, loaded = _loaded_by_scripts(scripts, ("torch",))
    assert loaded == "[]\n", imports


def test_training_and_scoring_jobs_load_no_onnx():
    """What the training and scoring scripts import: onnx and ONNX Runtime (about a second of imports in every
    job) load only where an ONNX file is read or written (the export job, an ONNX audit)."""
    scripts = ("train.py", "score_checkpoint.py", "score_strong_attacks.py", "score_shifted_samples.py")
    imports, loaded = _loaded_by_scripts(scripts, ("onnx", "onnxruntime"))
    assert loaded == "[]\n", imports
