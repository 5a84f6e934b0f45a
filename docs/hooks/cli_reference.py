"""mkdocs hook: renders the CLI reference from the ``segframe`` command itself.

The page ``reference/cli.md`` holds a marker comment; at build time it is replaced by
every command's usage, help and options, read from the click command that typer builds,
so the reference can never drift from the code (and the build needs no network).
"""

from __future__ import annotations

from typing import Any

import typer

MARKER = "<!-- segframe-cli-reference -->"


def _default(param: Any) -> str:
    default = param.default
    if default is None or param.required:
        return ""
    value = getattr(default, "value", default)
    return f"`{value}`"


def _names(param: Any) -> str:
    if param.param_type_name == "argument":
        return f"`{param.name.upper()}`"
    return ", ".join(f"`{name}`" for name in (*param.opts, *param.secondary_opts))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _render(command: Any, path: list[str], parent: Any) -> list[str]:
    """Markdown for ``command`` and its subcommands (typer's vendored click objects)."""
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    lines = [f"## `{' '.join(path)}`", ""]
    if command.help:
        lines += [command.help.strip(), ""]
    lines += ["```text", " ".join([*path, *command.collect_usage_pieces(ctx)]), "```", ""]
    params = [p for p in command.get_params(ctx) if p.name != "help"]
    if params:
        lines += ["| option | type | default | description |", "| --- | --- | --- | --- |"]
        for param in params:
            required = " (required)" if param.required else ""
            lines.append(
                f"| {_names(param)}{required} | `{param.display_type(ctx)}` | {_default(param)} | "
                f"{_cell(getattr(param, 'help', None) or '')} |"
            )
        lines.append("")
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            lines += _render(command.get_command(ctx, name), [*path, name], ctx)
    return lines


def cli_reference() -> str:
    """Markdown for every ``segframe`` command, top level first."""
    from segframe.cli import app

    return "\n".join(_render(typer.main.get_command(app), ["segframe"], None))


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
