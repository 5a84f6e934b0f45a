"""The shape of the core: no import cycles among segframe's modules, one home for
Optuna's internals, and one set of defaults for the CLI and the Python API.

Imports inside functions count: a lazy import that closes a cycle still ties the two
modules together (and hid the engine ↔ guard ↔ workers knot for a while).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import typer.main

import segframe.engine
import segframe.segmentation
from segframe.cli import app
from segframe.plan import DEFAULTS, SearchPlan

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "segframe"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in CORE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The segframe modules ``name`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:  # `from segframe import x`: the submodule x if there is one
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_lazy_imports_and_finds_a_cycle() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    assert "segframe.engine" in graph["segframe"]  # imported inside __getattr__
    assert find_cycle({**graph, "segframe.errors": {"segframe.cli"}}) is not None


def test_segframe_modules_import_each_other_without_cycles() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_only_cli_and_the_package_root_import_the_cli() -> None:
    importers = {name for name in MODULES if "segframe.cli" in imports_of(name)}
    assert importers <= {"segframe.__main__"}


OPTUNA_PRIVATE = re.compile(r"\._storage\b|storages\._|\._trial_id\b|\._get_stale|\._study_id\b")


def test_only_optuna_internals_touches_optuna_privates() -> None:
    """``optuna.storages._heartbeat`` and friends are used in one module, pinned by its tests."""
    files = [
        *CORE.rglob("*.py"),
        *(ROOT / "plugins").rglob("*.py"),
        *(ROOT / "tests").glob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
    ]
    users = {
        p.relative_to(ROOT).as_posix()
        for p in files
        if OPTUNA_PRIVATE.search(p.read_text(encoding="utf-8"))
    }
    assert users == {"segframe/optuna_internals.py", "tests/test_architecture.py"}


def cli_defaults(command: str) -> dict[str, object]:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {p.name: p.default for p in click_command.params}


def test_cli_and_api_share_the_plans_defaults() -> None:
    """One set of defaults: the CLI's options and search()'s keywords are the plan's."""
    api = inspect.signature(segframe.engine.search).parameters
    cli = cli_defaults("search")
    shared = [
        "storage", "trials", "timeout", "objective", "seed", "cv", "n_jobs", "resume",
        "trial_timeout", "trial_memory_mb", "refit", "ensemble", "device",
    ]  # fmt: skip
    for name in shared:
        expected = getattr(DEFAULTS, name)
        assert api[name].default == expected, name
        assert cli[name] == expected, name
    assert DEFAULTS.trial_timeout is None  # the documented default: trials run in-process
    assert api["holdout"].default == DEFAULTS.holdout


def test_the_plan_is_frozen_and_picklable() -> None:
    import dataclasses
    import pickle

    plan = SearchPlan(study="s", include=("rfm",), trial_timeout=5.0)
    assert pickle.loads(pickle.dumps(plan)) == plan
    try:
        plan.trials = 3  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:  # pragma: no cover - the assertion names the broken promise
        raise AssertionError("SearchPlan must be frozen")
    assert plan.guarded and not DEFAULTS.guarded


def test_segment_shares_the_run_defaults() -> None:
    api = inspect.signature(segframe.segmentation.segment).parameters
    cli = cli_defaults("segment")
    for name in ("storage", "timeout", "seed", "n_jobs", "resume", "trial_timeout"):
        if name in api:
            assert api[name].default == getattr(DEFAULTS, name), name
        if name in cli:
            assert cli[name] == getattr(DEFAULTS, name), name
