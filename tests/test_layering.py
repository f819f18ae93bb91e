"""The one-way rule, checked: capture → anonymize → models → edge → server, calibration and
``voirie.records`` below them all, the lab (``voirie.lab``) outside the product, and no
library or service importing a command-line module.

``python tests/test_layering.py`` prints the import graph between folders (every import,
also the ones inside functions) and exits 1 on a violation; the tests below fail on the
same violations, and import every product module to show none of them loads the lab.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folder -> the folders it may import: earlier stages only; calibration is a library that
# imports no stage; the server receives records over HTTP and never imports edge code.
# "voirie" is records and utilities (its cli.py, the command line over everything, is apart).
ALLOWED = {
    "voirie": set(),
    "calibration": {"voirie"},
    "capture": {"voirie"},
    "anonymize": {"voirie", "calibration", "capture"},
    "models": {"voirie", "calibration", "capture", "anonymize"},
    "edge": {"voirie", "calibration", "capture", "anonymize", "models"},
    "server": {"voirie", "calibration"},
    # Re-analysis runs a model over the server's stored photos: the one folder after the server.
    "reanalyse": {"voirie", "calibration", "capture", "anonymize", "models", "server"},
}
PRODUCT = tuple(ALLOWED)


def _folder_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "voirie":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in (*ALLOWED, "lab") else "voirie"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported voirie module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(name, id(node) in top) for name in names[:1]]
            if node.module == "voirie":
                found += [(f"voirie.{alias.name}", id(node) in top) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
    return [(name, level) for name, level in found if name.startswith("voirie")]


def _source_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def import_graph() -> tuple[Counter, list[str]]:
    """Folder-to-folder import counts and the violations of the rules above."""
    graph: Counter = Counter()
    violations = []
    for folder in (*PRODUCT, "lab"):
        for path in _source_files(folder):
            for module, at_top in _imports(path):
                target = _folder_of(module)
                if target is None or target == folder:
                    continue
                graph[(folder, target)] += 1
                problem = _violation(folder, path, target, at_top) or _cli_import(path, module)
                if problem:
                    violations.append(f"{path.relative_to(ROOT)} imports {module}: {problem}")
    return graph, violations


def _violation(folder: str, path: Path, target: str, at_top: bool) -> str | None:
    if folder == "lab":
        return None  # the lab may use anything
    command_line = path.name == "cli.py"  # commands import what they run, when they run
    if target == "lab":
        return None if command_line and not at_top else "the product never imports the lab"
    if folder == "voirie" and path.name == "cli.py":
        return None
    if target not in ALLOWED[folder]:
        return f"{folder} may not import {target} (one-way: capture → anonymize → models → edge → server)"
    return None


def _cli_import(path: Path, module: str) -> str | None:
    """Commands sit on top: only ``voirie/cli.py`` (the command line) imports a ``cli`` module."""
    if module.rsplit(".", 1)[-1] != "cli" or path == ROOT / "voirie" / "cli.py":
        return None
    return "a library or service imports a command-line module"


def product_modules() -> list[str]:
    """Every importable module of the product folders, as ``voirie.<folder>.<...>``."""
    modules = []
    for folder in PRODUCT:
        for path in _source_files(folder):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            modules.append(".".join(["voirie", *([] if folder == "voirie" else [folder]), *parts]))
    return modules


def test_no_folder_imports_a_later_stage_or_the_lab() -> None:
    graph, violations = import_graph()
    assert graph[("edge", "capture")] and graph[("lab", "capture")]  # the scan sees imports at all
    assert not violations, "\n".join(violations)


def test_importing_every_product_module_loads_no_lab_module() -> None:
    modules = product_modules()
    assert len(modules) > 100 and "voirie.edge.survey.engine" in modules
    script = ("import importlib, sys\n"
              f"for name in {modules!r}:\n    importlib.import_module(name)\n"
              "print(sorted(m for m in sys.modules if m == 'voirie.lab' or m.startswith('voirie.lab.')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]", done.stdout


def test_the_rules_catch_a_back_import_and_a_lab_import() -> None:
    edge_file, cli_file = ROOT / "capture" / "camera.py", ROOT / "models" / "cli.py"
    assert _violation("capture", edge_file, "edge", at_top=False)
    assert _violation("server", ROOT / "server" / "main.py", "edge", at_top=True)
    assert _violation("models", ROOT / "models" / "runtime.py", "lab", at_top=False)
    assert _violation("models", cli_file, "lab", at_top=True)
    assert _violation("models", cli_file, "lab", at_top=False) is None
    assert _violation("edge", ROOT / "edge" / "survey" / "engine.py", "capture", at_top=True) is None
    assert _cli_import(ROOT / "edge" / "agent" / "pipeline.py", "voirie.edge.survey.cli")
    assert _cli_import(ROOT / "voirie" / "cli.py", "voirie.edge.survey.cli") is None


def main() -> int:
    """Print the graph between folders; exit 1 on a violation."""
    graph, violations = import_graph()
    for (source, target), count in sorted(graph.items()):
        print(f"{source:>12} → {target:<12} {count:4d} imports")
    for line in violations:
        print("VIOLATION", line)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
