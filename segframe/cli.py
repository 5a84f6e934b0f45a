"""The ``segframe`` command line: plugins, search, leaderboard, predict."""

from __future__ import annotations

import json
import math
import os
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from segframe.device import gpu_present
from segframe.errors import SegframeError, shorten
from segframe.plan import DEFAULTS
from segframe.storage import STORAGE_FAULTS, redact, storage_failure

DEFAULT_STORAGE = DEFAULTS.storage

app = typer.Typer(
    help="AutoML for customer segmentation.", no_args_is_help=True, pretty_exceptions_enable=False
)
console = Console()
errors = Console(stderr=True)
_state = {"debug": False}
#: An error longer than this is cut (``--debug`` shows it whole): a paragraph, not a page.
MAX_ERROR_CHARS = 800
#: Output suffixes ``predict --out`` writes.
OUT_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
#: The split, folds and sampler take seeds below 2**32 (NumPy's limit).
MAX_SEED = 2**32 - 1
#: A trial's time limit is a pipe poll in milliseconds, which overflows near 24 days.
MAX_TRIAL_SECONDS = 7 * 24 * 3600


class ObjectiveChoice(StrEnum):
    both = "both"
    f1 = "f1"
    auc = "auc"


class RefitChoice(StrEnum):
    all = "all"
    train = "train"


StorageOption = Annotated[str, typer.Option(help="SQLAlchemy URL of the study database.")]
StudyOption = Annotated[str, typer.Option(help="Study name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DataOption = Annotated[Path | None, typer.Option(help="Customer table (CSV or Parquet).")]
EventsOption = Annotated[Path | None, typer.Option(help="Event log (CSV or Parquet).")]
IdOption = Annotated[str | None, typer.Option("--id", help="Customer id column.")]
DemoOption = Annotated[bool, typer.Option(help="Use the built-in simulated shop.")]
NJobsOption = Annotated[
    int, typer.Option(help="Local worker processes; more can run elsewhere on --storage.")
]
ResumeOption = Annotated[
    bool, typer.Option(help="Fail and retry the trials a killed run left running, now.")
]
TrialTimeoutOption = Annotated[
    float | None,
    typer.Option(
        help="Seconds one trial may run before it is stopped and failed (runs each trial in "
        "a guarded child process; default: in-process, no limit)."
    ),
]
TrialMemoryOption = Annotated[
    int | None, typer.Option(help="Memory cap of one trial's guarded process, in MB.")
]
IncludeOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated components to keep: each kind named keeps only these "
        "(preprocessors: each step, e.g. frame → matrix); kinds not named stay as they are."
    ),
]
ExcludeOption = Annotated[
    str | None,
    typer.Option(help="Comma-separated components to leave out, e.g. smote,scale."),
]


@app.callback()
def main(debug: Annotated[bool, typer.Option(help="Show full tracebacks on errors.")] = False):
    _state["debug"] = debug
    if not debug:
        threading.excepthook = _quiet_storage_faults


def _quiet_storage_faults(args: threading.ExceptHookArgs) -> None:
    """A trial's heartbeat thread hits a failing database too; the main thread reports it
    as one paragraph, so the thread's traceback is left out."""
    if not isinstance(args.exc_value, STORAGE_FAULTS):
        threading.__excepthook__(args)


def _say(label: str, message: str, style: str = "bold red") -> None:
    """``label`` styled, then ``message`` literally: text from data, files and plugins may
    hold ``[/b]`` or ``[red]``, which rich markup would choke on or silently delete."""
    if len(message) > MAX_ERROR_CHARS:
        message = f"{message[:MAX_ERROR_CHARS]}… (cut; `segframe --debug ...` shows it whole)"
    errors.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True)


def _fail(exc: BaseException, storage: str | None = None) -> None:
    """Print ``exc`` as one paragraph and exit: 2 for the user's mistakes and for faults of
    the study database (``storage``, named with its password hidden), 1 for our bugs."""
    if _state["debug"]:
        raise exc
    if isinstance(exc, STORAGE_FAULTS):
        exc = storage_failure(storage or DEFAULT_STORAGE, exc)
    if isinstance(exc, SegframeError):
        _say("Error:", str(exc))
        raise typer.Exit(2)
    text = f"{type(exc).__name__}: {exc}"
    if storage:
        text = text.replace(storage, redact(storage))
    _say(
        "Unexpected error:",
        f"{text}\nRe-run with `segframe --debug ...` for the traceback, and please report it.",
    )
    raise typer.Exit(1)


def _note(note: str, out: Console | None = None) -> None:
    (out or console).print(Text.assemble(("Note:", "yellow"), " ", note), highlight=False)


def _check(ok: bool, message: str) -> None:
    if not ok:
        _fail(SegframeError(message))


def _check_budget(trials: int | None, timeout: float | None, seed: int) -> None:
    """The options a search and a segmentation share, checked before anything is read,
    created or stored (a study left behind by a run that could not search is clutter)."""
    _check(
        trials is not None or timeout is not None,
        "Give a budget: a number of trials, a timeout in seconds, or both.",
    )
    _check(trials is None or trials >= 1, f"--trials must be at least 1, not {trials}.")
    _check(
        timeout is None or (math.isfinite(timeout) and timeout > 0),
        f"--timeout must be a positive number of seconds, not {timeout}.",
    )
    _check(
        0 <= seed <= MAX_SEED, f"--seed must be a whole number from 0 to {MAX_SEED}, not {seed}."
    )


def _names(option: str, text: str | None, what: str = "component") -> list[str]:
    """A comma-separated option's names; given but naming nothing is refused."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text is not None else []
    _check(text is None or bool(names), f"{option} names no {what}: {text!r}.")
    return names


def _check_run_options(
    n_jobs: int, trial_timeout: float | None, trial_memory_mb: int | None
) -> None:
    """The worker and trial-guard options a search and a segmentation share."""
    most_jobs = max(32, 4 * (os.cpu_count() or 1))
    _check(
        1 <= n_jobs <= most_jobs,
        f"--n-jobs must be at least 1 and at most {most_jobs} (local worker processes), "
        f"not {n_jobs}; more workers can run on other machines sharing --storage.",
    )
    _check(
        trial_timeout is None
        or (math.isfinite(trial_timeout) and 0 < trial_timeout <= MAX_TRIAL_SECONDS),
        f"--trial-timeout must be above 0 and at most {MAX_TRIAL_SECONDS} seconds (a week), "
        f"not {trial_timeout}.",
    )
    _check(
        trial_memory_mb is None or 64 <= trial_memory_mb <= 2**30,
        f"--trial-memory-mb must be at least 64 (a pipeline needs room) and at most {2**30}, "
        f"not {trial_memory_mb}.",
    )


def _check_search_options(cv: int, device: str) -> None:
    _check(2 <= cv <= 20, f"Use 2 to 20 cross-validation folds (--cv), not {cv}.")
    try:
        from segframe.device import resolve_device

        resolve_device(device)
    except SegframeError as exc:
        _fail(exc)


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return "—"
    whole = float(value).is_integer() and not isinstance(value, float)
    return str(value) if whole else f"{value:.4f}"


plugins_app = typer.Typer()
app.add_typer(plugins_app, name="plugins")
#: Terminal columns from which `segframe plugins` shows descriptions and devices.
WIDE_LISTING = 110


@plugins_app.callback(invoke_without_command=True)
def plugins(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every plugin and component, where it came from, and whether it can be used.

    `segframe plugins check [NAME]` checks plugins; `segframe plugins new NAME` starts one.
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        from segframe.registry import default_registry

        registry = default_registry()
    except SegframeError as exc:
        _fail(exc)
    listing = _plugins_listing(registry, gpu_present())
    if as_json:
        print(json.dumps(listing, indent=2))
        return
    _print_plugins(listing)


def _plugins_listing(registry, gpu: bool) -> dict[str, list[dict]]:
    """What `segframe plugins` shows: plugins, components, and (kept for scripts written
    before plugins were listed) the broken plugins alone."""
    components = [
        {
            "kind": i.component.kind,
            "name": i.component.name,
            "plugin": i.plugin.name,
            "distribution": f"{i.plugin.distribution} {i.plugin.version}".strip(),
            "status": i.status,
            "reason": i.unavailable,
            "accepts": i.component.accepts,
            "produces": i.component.produces,
            "device": ("gpu" if gpu else "cpu (no GPU found)") if i.component.uses_gpu else "cpu",
            "description": i.component.description,
        }
        for i in registry.infos()
    ]
    plugins = [
        {
            "plugin": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "components": sum(1 for c in components if c["plugin"] == p.name),
            "status": p.status,
            "reason": p.error,
        }
        for p in sorted(registry.plugins.values(), key=lambda p: p.name)
    ]
    for row in [*plugins, *components]:  # plugin code may put anything in these fields
        for key, value in row.items():
            if not isinstance(value, str | int | type(None)):
                row[key] = repr(value)
    broken = [
        {k: p[k] for k in ("plugin", "distribution", "status", "reason")}
        for p in plugins
        if p["reason"]
    ]
    return {"plugins": plugins, "components": components, "broken_plugins": broken}


def _print_plugins(listing: dict[str, list[dict]]) -> None:
    """Two tables; every text that comes from a plugin is printed literally (a hint such as
    `pip install 'segframe[postgres]'` keeps its brackets), component names are never cut,
    and reasons go below the tables, numbered, where they have room. Descriptions and
    devices need a wide terminal; `--json` always has them."""
    from rich import box
    from rich.text import Text

    reasons: list[str] = []

    def status(row: dict, ok: str) -> Text:
        if not row["reason"]:
            return Text(ok, style="green")
        if "kind" in row:
            who = f"{row['kind']} {row['name']!r} of plugin {row['plugin']!r}"
        else:
            who = f"plugin {row['plugin']!r} ({row['distribution']} {row['version']})"
        reasons.append(f"{who}: {row['reason']}")
        return Text(f"{row['status']} ({len(reasons)})", style="red")

    def uncut(grid: Table, header: str, values: list[str]) -> None:
        width = max((len(v) for v in values), default=0)
        grid.add_column(header, min_width=max(width, len(header)), no_wrap=True)

    def table(title: str) -> Table:
        return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)

    plugins, components = listing["plugins"], listing["components"]
    grid = table("segframe plugins")
    uncut(grid, "name", [p["plugin"] for p in plugins])
    grid.add_column("distribution", overflow="fold")
    grid.add_column("components", justify="right")
    grid.add_column("status", no_wrap=True)
    for p in plugins:
        origin = f"{p['distribution']} {p['version']}".strip()
        grid.add_row(Text(p["plugin"]), Text(origin), str(p["components"]), status(p, "loaded"))
    broken_plugins = len(reasons)
    console.print(grid)

    wide = console.width >= WIDE_LISTING
    grid = table("segframe components")
    uncut(grid, "name", [f"  {c['name']}" for c in components])
    uncut(grid, "plugin", [c["plugin"] for c in components])
    grid.add_column("status", no_wrap=True)
    grid.add_column("accepts → produces", overflow="fold")
    if wide:
        grid.add_column("device", overflow="fold")
        grid.add_column("description", overflow="fold", ratio=1)
    kind = None
    for c in components:
        if c["kind"] != kind:  # one heading row per kind saves a column
            kind = c["kind"]
            grid.add_row(Text(str(kind), style="bold"))
        cells = [
            Text(f"  {c['name']}"),
            Text(c["plugin"]),
            status(c, "available"),
            Text(f"{c['accepts']} → {c['produces']}"),
        ]
        if wide:
            cells += [Text(c["device"]), Text(c["description"])]
        grid.add_row(*cells)
    console.print(grid)
    console.print(
        "Optional steps (samplers, scaling) can also be skipped: shown as 'none'."
        + ("" if wide else " Descriptions and devices: a wider terminal, or --json."),
        highlight=False,
        markup=False,
    )
    for number, reason in enumerate(reasons, 1):
        if number == 1 and broken_plugins:
            console.print("Why plugins are broken:")
        if number == broken_plugins + 1:
            console.print("Why components cannot be used:")
        # soft-wrapped: an install hint stays one piece to copy, whatever the width
        console.print(Text(f"  ({number}) {reason}"), highlight=False, soft_wrap=True)


@plugins_app.command("new")
def plugins_new(
    name: Annotated[str, typer.Argument(help="Plugin name, e.g. acme (package segframe-acme).")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder to create the package in.")
    ] = Path("."),
) -> None:
    """Scaffold a plugin package: pyproject.toml with the entry point, a component, a test."""
    from segframe.scaffold import scaffold

    try:
        root = scaffold(name, directory)
    except SegframeError as exc:
        _fail(exc)
    path = root if root.is_absolute() else f"./{root}"  # pip reads a bare name as a project
    console.print(
        f"Created the plugin package {path}.\nInstall it next to segframe with "
        f"`pip install -e '{path}[test]'`, then `segframe plugins` lists it and "
        f"`python -m pytest {path}` runs its test.",
        highlight=False,
        markup=False,
    )


@plugins_app.command("check")
def plugins_check(
    name: Annotated[
        str | None,
        typer.Argument(
            help="An installed plugin (as `segframe plugins` names it), a component, or an "
            "importable plugin module. Every installed plugin when left out."
        ),
    ] = None,
    draws: Annotated[
        int, typer.Option(min=1, help="Parameter sets drawn from each component's space.")
    ] = 3,
) -> None:
    """Check plugins as a search would use them: each component is built with parameters
    from its space and its starts, fitted on a small simulated shop, and what it returns is
    checked against the component contract. Exit code 1 lists every broken rule."""
    from rich.text import Text

    from segframe.checks import check_component, check_plugin
    from segframe.registry import Registry

    try:
        registry = Registry.load()
        if name is None:
            targets = [("plugin", n) for n in sorted(registry.plugins)]
        elif name in registry.plugins:
            targets = [("plugin", name)]
        else:
            found = [i for i in registry.infos() if i.component.name == name]
            targets = [("component", i) for i in found] or [("plugin", name)]
        problems = 0
        for what, target in targets:
            if what == "plugin":
                report = check_plugin(target, draws=draws, raise_on_problems=False)
            else:
                report = check_component(target, draws=draws, raise_on_problems=False)
            problems += len(report.problems)
            verdict = (
                "no problems"
                if report.ok
                else f"{len(report.problems)} problem{'s' * (len(report.problems) > 1)}"
            )
            count = len(report.checked)
            console.print(
                Text.assemble(
                    ("✓ " if report.ok else "✗ ", "green" if report.ok else "bold red"),
                    f"{report.target}: {count} component{'s' * (count != 1)} checked, {verdict}",
                ),
                highlight=False,
                soft_wrap=True,
            )
            for line in report.lines():
                console.print(Text(f"    {line}"), highlight=False, soft_wrap=True)
    except SegframeError as exc:
        _fail(exc)
    if problems:
        raise typer.Exit(1)


#: Characters of a trial's error shown in a leaderboard table (``--errors`` shows all).
ERROR_CELL_CHARS = 60


def _error_of(row: dict) -> str | None:
    """A row's error text; None for none (pandas turns a missing error into NaN)."""
    error = row.get("error")
    return error if isinstance(error, str) and error else None


def _leaderboard_table(frame, title: str, top: int) -> Table:
    """Any leaderboard frame (classification or segmentation) as a table; errors join state.

    Every cell is literal text: pipelines, errors and the study name come from plugins,
    data and the user."""
    columns = [c for c in frame.columns if c != "error"]
    table = Table(title=Text(title))
    for column in columns:
        numeric = column not in {"trial", "pipeline", "state"}
        table.add_column(column, justify="right" if numeric else "left")
    for row in frame.head(top).to_dict("records"):
        error = _error_of(row)
        if error is not None:
            row["state"] = f"{row['state']}: {shorten(error, ERROR_CELL_CHARS)}"
        table.add_row(*(Text(v if isinstance(v, str) else _fmt(v)) for v in map(row.get, columns)))
    return table


def _print_board(frame, title: str, top: int, full_errors: bool, hint: str) -> None:
    """The table; then every shown trial's whole error (``full_errors``), or how to see them."""
    console.print(_leaderboard_table(frame, title, top))
    failed = [(r["trial"], e) for r in frame.head(top).to_dict("records") if (e := _error_of(r))]
    if full_errors:
        for trial, error in failed:
            console.print(
                Text.assemble((f"Trial {trial}:", "red"), " ", error),
                highlight=False,
                soft_wrap=True,
            )
    elif any(len(e) > ERROR_CELL_CHARS for _, e in failed):
        console.print(Text(f"Errors are shortened; {hint} shows them whole."), highlight=False)


@app.command()
def search(
    data: DataOption = None,
    target: Annotated[str | None, typer.Option(help="Target (segment label) column.")] = None,
    id: IdOption = None,
    events: EventsOption = None,
    demo: DemoOption = False,
    storage: StorageOption = DEFAULT_STORAGE,
    study: Annotated[str | None, typer.Option(help="Study name (default: data file name).")] = None,
    trials: Annotated[
        int | None, typer.Option(help="Total finished trials of the study.")
    ] = DEFAULTS.trials,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds this run may take, final fits included; a trial still running "
            "then stops at its next fold or epoch."
        ),
    ] = DEFAULTS.timeout,
    objective: Annotated[ObjectiveChoice, typer.Option(help="What to maximise.")] = ObjectiveChoice[
        DEFAULTS.objective
    ],
    models: Annotated[
        str | None,
        typer.Option(help="Comma-separated model names; with --include's models, those searched."),
    ] = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    seed: Annotated[
        int, typer.Option(help="Seed for the split, folds and sampler.")
    ] = DEFAULTS.seed,
    cv: Annotated[int, typer.Option(help="Cross-validation folds.")] = DEFAULTS.cv,
    device: Annotated[
        str, typer.Option(help="GPU-capable models run on: auto|cpu|gpu.")
    ] = DEFAULTS.device,
    n_jobs: NJobsOption = DEFAULTS.n_jobs,
    resume: ResumeOption = DEFAULTS.resume,
    trial_timeout: TrialTimeoutOption = DEFAULTS.trial_timeout,
    trial_memory_mb: TrialMemoryOption = DEFAULTS.trial_memory_mb,
    refit: Annotated[
        RefitChoice,
        typer.Option(help="Refit the winner on all labelled rows, or keep the training fit."),
    ] = RefitChoice[DEFAULTS.refit],
    ensemble: Annotated[
        bool, typer.Option(help="Store the best trials blended with the known-good starts.")
    ] = DEFAULTS.ensemble,
) -> None:
    """Search pipelines and store the winner in the study database."""
    from segframe.engine import search as run_search

    if not demo and data is None:
        _fail(SegframeError("Pass --data FILE --target COLUMN, or --demo for the built-in data."))
    _check_budget(trials, timeout, seed)
    _check_search_options(cv, device)
    _check_run_options(n_jobs, trial_timeout, trial_memory_mb)
    model_names = _names("--models", models, "model") or None
    kept, left_out = _names("--include", include), _names("--exclude", exclude)
    progress = Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[best]}"),
        console=console,
        transient=False,
    )
    task = progress.add_task("search", total=trials, best="")

    def on_trial(event) -> None:
        progress.update(
            task,
            completed=event.finished,
            best=f"best F1 {_fmt(event.best_f1)}  AUC {_fmt(event.best_auc)}",
        )

    try:
        with progress:
            result = run_search(
                data,
                target,
                events=events,
                id_column=id,
                demo=demo,
                storage=storage,
                study=study,
                trials=trials,
                timeout=timeout,
                objective=objective.value,
                models=model_names,
                include=kept,
                exclude=left_out,
                seed=seed,
                cv=cv,
                device=device,
                on_trial=on_trial,
                n_jobs=n_jobs,
                resume=resume,
                trial_timeout=trial_timeout,
                trial_memory_mb=trial_memory_mb,
                refit=refit.value,
                ensemble=ensemble,
            )
        board = result.leaderboard()
    except (SegframeError, *STORAGE_FAULTS) as exc:
        _fail(exc, storage)
    for note in result.notes:
        _note(note)
    hint = f"`segframe leaderboard --study {result.study_name!r} --errors`"
    _print_board(board, f"Leaderboard of study {result.study_name!r}", 10, False, hint)
    console.print(
        f"Winner: trial {result.best_trial}, {result.best_spec.describe()}\n"
        f"  cross-validated F1 {_fmt(result.cv_scores['f1'])}  "
        f"AUC {_fmt(result.cv_scores['auc'])}\n"
        f"  holdout         F1 {_fmt(result.holdout_scores['f1'])}  "
        f"AUC {_fmt(result.holdout_scores['auc'])}\n"
        + (
            f"  decision threshold {result.threshold:.3f} (positive-class probability, "
            "chosen for F1 out of fold)\n"
            if result.threshold is not None
            else ""
        )
        + f"Stored as study {result.study_name!r} in {result.storage}.",
        highlight=False,
        markup=False,  # names come from plugins and the user: print them literally
    )


@app.command()
def leaderboard(
    study: StudyOption,
    storage: StorageOption = DEFAULT_STORAGE,
    as_json: JsonOption = False,
    top: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    full_errors: Annotated[
        bool, typer.Option("--errors", "--full", help="Show failed trials' whole errors.")
    ] = False,
) -> None:
    """Show a study's trials, best first."""
    from segframe.leaderboard import load_study
    from segframe.task import task_named

    _check(top >= 1, f"--top must be at least 1, not {top}.")
    try:
        meta = load_study(study, storage).user_attrs.get("segframe", {})
        board = task_named(meta.get("task", "classification")).leaderboard(study, storage)
    except (SegframeError, *STORAGE_FAULTS) as exc:
        _fail(exc, storage)
    if as_json:
        print(board.to_json(orient="records", indent=2))
    else:
        hint = "--errors"
        _print_board(board, f"Leaderboard of study {study!r}", top, full_errors, hint)


@app.command()
def predict(
    study: StudyOption,
    data: Annotated[Path, typer.Option(help="Customer table to segment (CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Where to write predictions (.csv or .parquet).")],
    events: Annotated[Path | None, typer.Option(help="Event log of these customers.")] = None,
    id: Annotated[
        str | None,
        typer.Option("--id", help="Customer id column of --data (default: the training one)."),
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """Segment customers with a study's stored winner: one row per customer."""
    from segframe.predict import predictions, prepare

    kind = OUT_FORMATS.get(out.suffix.lower())
    _check(
        kind is not None,
        f"Cannot write predictions as {out.suffix or 'a file without a suffix'!r} "
        f"({str(out)!r}); name the --out file .csv or .parquet.",
    )
    try:
        prepared = prepare(study, data, events=events, storage=storage, id_column=id)
        table = predictions(prepared.record, prepared.pipeline, prepared.frame)
    except (SegframeError, *STORAGE_FAULTS) as exc:
        _fail(exc, storage)
    try:
        if kind == "Parquet":
            table.to_parquet(out, index=False)
        else:
            table.to_csv(out, index=False)
    except (OSError, ValueError, ImportError) as exc:
        reason = getattr(exc, "strerror", None) or shorten(exc, 200)
        _fail(SegframeError(f"Cannot write predictions to {str(out)!r}: {reason}."))
    for note in prepared.notes:
        _note(note)
    console.print(
        f"Wrote {len(table)} predictions to {out} (study {study!r}, {redact(storage)}).",
        highlight=False,
        markup=False,
    )


def _profile_table(profiles, title: str) -> Table:
    """Segments and their medians; names and top events (from the data) printed literally."""
    caption = "medians per segment; recency and tenure in days"
    table = Table(title=Text(title), caption=caption)
    columns = ["#", "name", "customers", "share", "recency", "frequency", "monetary", "tenure"]
    for column in [*columns, "top events"]:
        table.add_column(column, justify="left" if column in {"name", "top events"} else "right")
    for segment, row in profiles.iterrows():
        measures = [row.get(f"{m}_median") for m in ("recency", "frequency", "monetary", "tenure")]
        table.add_row(
            str(segment),
            Text(str(row["name"])),
            str(row["size"]),
            f"{row['share']:.1%}",
            *("—" if v is None or v != v else f"{v:,.1f}" for v in measures),
            Text(str(row.get("top_events", ""))),
        )
    return table


@app.command()
def segment(
    data: DataOption = None,
    events: EventsOption = None,
    id: IdOption = None,
    k: Annotated[str, typer.Option("--k", help="Number of segments, e.g. 2-12 or 5.")] = "2-12",
    demo: DemoOption = False,
    storage: StorageOption = DEFAULT_STORAGE,
    study: Annotated[str | None, typer.Option(help="Study name (default: data file name).")] = None,
    trials: Annotated[int | None, typer.Option(help="Total finished trials of the study.")] = 20,
    timeout: Annotated[float | None, typer.Option(help="Seconds this run may search.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for K-Means, bootstraps and sampler.")] = 0,
    names: Annotated[
        str | None, typer.Option(help="Rename segments, e.g. '0=VIP,3=Sleepers'.")
    ] = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    n_jobs: NJobsOption = DEFAULTS.n_jobs,
    resume: ResumeOption = DEFAULTS.resume,
    trial_timeout: TrialTimeoutOption = DEFAULTS.trial_timeout,
    trial_memory_mb: TrialMemoryOption = DEFAULTS.trial_memory_mb,
    as_json: JsonOption = False,
) -> None:
    """Find customer segments without labels (a search over segmenters such as K-Means) and
    store the winner."""
    from segframe.profiles import parse_names, profiles_records
    from segframe.segmentation import parse_k
    from segframe.segmentation import segment as run_segment

    if not demo and data is None:
        _fail(SegframeError("Pass --data FILE (usually with --events FILE), or --demo."))
    _check_budget(trials, timeout, seed)
    _check_run_options(n_jobs, trial_timeout, trial_memory_mb)
    kept, left_out = _names("--include", include), _names("--exclude", exclude)
    try:
        _, high = parse_k(k)
        mapping = parse_names(names) if names else None
    except SegframeError as exc:
        _fail(exc)
    beyond = sorted(s for s in mapping or {} if s >= high)
    _check(
        not beyond,
        f"--names renames segment {', '.join(map(str, beyond[:5]))}, but --k {k} makes at most "
        f"{high} segments (0 to {high - 1}).",
    )
    progress = Progress(
        TextColumn("[bold]segment"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[best]}"),
        console=errors if as_json else console,
        transient=as_json,
    )
    task = progress.add_task("segment", total=trials, best="")

    def on_trial(event) -> None:
        progress.update(
            task, completed=event.finished, best=f"best silhouette {_fmt(event.best_silhouette)}"
        )

    try:
        with progress:
            result = run_segment(
                data,
                events=events,
                id_column=id,
                demo=demo,
                storage=storage,
                study=study,
                trials=trials,
                timeout=timeout,
                k=k,
                seed=seed,
                names=mapping,
                on_trial=on_trial,
                include=kept,
                exclude=left_out,
                n_jobs=n_jobs,
                resume=resume,
                trial_timeout=trial_timeout,
                trial_memory_mb=trial_memory_mb,
            )
    except (SegframeError, *STORAGE_FAULTS) as exc:
        _fail(exc, storage)
    if as_json:
        payload = {
            "study": result.study_name,
            "trial": result.best_trial,
            "pipeline": result.best_spec.describe(),
            "scores": result.scores,
            "profiles": profiles_records(result.profiles),
            "notes": result.notes,
        }
        print(json.dumps(payload, indent=2, default=str))
        return
    for note in result.notes:
        _note(note)
    console.print(_profile_table(result.profiles, f"Segments of study {result.study_name!r}"))
    s = result.scores
    console.print(
        f"Winner: trial {result.best_trial}, {result.best_spec.describe()}\n"
        f"  {s['k']} segments, silhouette {_fmt(s['silhouette'])}, stability (bootstrap ARI) "
        f"{_fmt(s['stability'])}, Calinski–Harabasz {s['calinski_harabasz']:.1f}, "
        f"Davies–Bouldin {_fmt(s['davies_bouldin'])}\n"
        f"Stored as study {result.study_name!r} in {result.storage}.",
        highlight=False,
        markup=False,
    )


@app.command()
def report(
    study: StudyOption,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """Write a self-contained HTML report (plots included) of a study's winner."""
    from segframe.report import write_report

    try:
        path = write_report(study, out, storage)
    except (SegframeError, *STORAGE_FAULTS) as exc:
        _fail(exc, storage)
    except OSError as exc:
        reason = exc.strerror or shorten(exc, 200)
        _fail(SegframeError(f"Cannot write the report to {str(out)!r}: {reason}."))
    console.print(f"Wrote the report of study {study!r} to {path}.", highlight=False, markup=False)
