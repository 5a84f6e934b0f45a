"""The README's two set-up commands and CI must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"

DEMO_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e . "
    "&& .venv/bin/segframe search --demo --trials 30"
)
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test,keras,docs]' "
    "&& .venv/bin/python -m pytest -q"
)
PYTEST = ".venv/bin/python -m pytest -q"

FENCE = re.compile(r"^```[ \t]*(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def shell_blocks(text: str) -> list[str]:
    """Bodies of the fenced ``bash``/``sh``/``shell`` blocks, in order, stripped."""
    return [body.strip() for lang, body in FENCE.findall(text) if lang in {"bash", "sh", "shell"}]


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = shell_blocks(text)
    assert blocks[:2] == [DEMO_COMMAND, TEST_COMMAND]
    # They come first: nothing but the title and the pitch before the demo command.
    before = text[: text.index(DEMO_COMMAND)]
    assert "```" in before
    assert before.count("```") == 1


def test_ci_runs_the_readme_test_command() -> None:
    assert PYTEST in TEST_COMMAND
    ci = CI.read_text(encoding="utf-8")
    assert ci.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in ci
    assert "python3 -m venv .venv" in ci
    assert ".venv/bin/pip install -e '.[test,keras,docs]'" in ci
    commands = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    runs = [line for line in commands if "pytest" in line and not line.startswith("echo")]
    assert runs, ".ci/run does not call pytest"
    # Only a timing report may be added; anything else (e.g. `-m "not slow"`) is drift.
    assert [re.sub(r"\s+--durations=\d+\b", "", line) for line in runs] == [PYTEST], runs


def test_ci_script_is_executable() -> None:
    assert CI.stat().st_mode & 0o111
