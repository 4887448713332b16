"""``biozoo demo | train | search | predict | embed | explain | export | report | datasets``:
the only place that prints for people."""

from __future__ import annotations

import errno
import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from biozoo._atomic import atomic_file
from biozoo._yaml import read_yaml
from biozoo.cli.logs import configure_logging
from biozoo.cli.progress import run_progress
from biozoo.errors import BiozooError

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    help="Train, compare, ensemble and explain deep models on biomedical data.",
)
out_console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., object])

DeviceOption = Annotated[
    str | None,
    typer.Option(
        help="auto, cpu or cuda: where the saved models run (default: the run's "
        "training.accelerator; the CPU where CUDA is absent)."
    ),
]


def _friendly(fn: F) -> F:
    """Turn a BiozooError, or a file system refusal, into one line on stderr and its status."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except BiozooError as err:
            _fail(str(err), err.exit_code)
        except OSError as err:
            _fail(*_os_error(err))

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> None:
    # the message is plain text: escaped, so "[UNK]" or "[1, 2]" are printed, not read as markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


# a full disk or a failing device is not the user's input: status 1, still one sentence
_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EIO}


def _os_error(err: OSError) -> tuple[str, int]:
    """One sentence naming the path the file system refused, and the exit status."""
    where = f" {err.filename}" if err.filename else ""
    why = err.strerror or type(err).__name__
    if err.errno in _FAULTS:
        return f"could not write{where}: {why.lower()}; nothing was left half-written.", 1
    return f"cannot use{where}: {why.lower()}.", 2


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwinds like KeyboardInterrupt, so partial outputs go."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def _catch_signals() -> None:
    """SIGINT (Ctrl+C) and SIGTERM (``timeout``, SLURM) unwind the run instead of killing it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupted)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out_console.print(f"biozoo {version('biozoo')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _setup(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show biozoo's debug logs (not other libraries')."),
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    configure_logging(err_console, verbose=verbose)


@app.command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the run folder.")] = Path("runs"),
) -> None:
    """GSE7390 breast cancer (expression + clinical): multi-module MLP vs baselines."""
    from biozoo.presets import demo_config

    _run(demo_config(), out)


@app.command()
@_friendly
def train(
    config: Annotated[
        Path | None, typer.Argument(help="Run config (YAML); with --resume, RUN's own.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the run folder.")] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Finish RUN, the hidden .partial folder an interrupted or killed run left: "
            "only its missing units are trained.",
            metavar="RUN",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Train the units on a local Dask cluster of N worker processes.", min=1),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Train the units on an existing Dask cluster (tcp://host:port)."),
    ] = None,
) -> None:
    """Train and evaluate the models and baselines of CONFIG; write a run folder."""
    from biozoo.api import load_config

    if config is None and resume is None:
        raise BiozooError("give a run config (or --resume RUN to finish an unfinished run).")
    if resume is not None and out is not None and out.resolve() != resume.parent.resolve():
        raise BiozooError(f"--resume {resume} finishes in {resume.parent}, not in --out {out}.")
    if config is not None:
        cfg = load_config(config)
    else:
        from biozoo.train.resume import check_resumable
        from biozoo.train.saved_run import load_run_config

        check_resumable(resume, None)
        cfg = load_run_config(resume)
    _run(cfg, out, resume=resume, workers=workers, scheduler=scheduler)


@app.command()
@_friendly
def search(
    config: Annotated[Path, typer.Argument(help="Run config (YAML) with a search: section.")],
    out: Annotated[Path | None, typer.Option(help="Folder for the run folder.")] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL shared by several workers (postgresql://user@host/db); "
            "default: SQLite in the run folder."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Run the units and trials on a local Dask cluster of N worker processes.", min=1
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the units and trials on an existing Dask cluster (tcp://host:port); "
            "needs a shared --storage."
        ),
    ] = None,
) -> None:
    """Search architectures and hyperparameters of CONFIG by nested evaluation: each outer
    split's search sees its training part only; the best configuration is scored once on its
    test part, beside the models and baselines."""
    from biozoo import api
    from biozoo.data.align import load_cohort

    cfg, space = api.load_search(config)
    if workers is None and scheduler is not None and (storage or "sqlite").startswith("sqlite"):
        raise BiozooError(
            f"--scheduler {scheduler} runs trials on machines that cannot share an SQLite "
            "file: give a database server with --storage postgresql://user@host/db."
        )
    cohort = load_cohort(cfg.data)
    _check_out_dir(out if out is not None else cfg.output.dir)
    with (
        _cluster(workers, scheduler, cfg.training.threads) as runner,
        err_console.status("searching") as status,
    ):
        result = api.search(
            cfg,
            space,
            cohort=cohort,
            out_dir=out,
            storage=storage,
            progress=status.update,
            runner=runner,
        )
    _print_leaderboard(result.leaderboard, cohort.task.primary, cohort, cfg)
    out_console.print(f"run folder: {result.path}  ({result.seconds:.0f} s)")
    out_console.print(f"best configurations: {result.path / 'search' / 'best'}")
    report = result.path / "report.html"
    if report.is_file():
        out_console.print(f"report: {report}")


@app.command()
@_friendly
def predict(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    data: Annotated[
        list[str],
        typer.Argument(help="NAME=PATH per modality, or a YAML file with a data section."),
    ],
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="Only this split's ensemble, by name or index (h0 or 0; default: all, averaged)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write CSV here (default: stdout).")] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="float or int8 (default: int8 for an int8 export, else float)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(help="A method of the leaderboard: a deep model or a saved baseline."),
    ] = None,
    device: DeviceOption = None,
) -> None:
    """Score new samples with a run's saved ensembles (or its int8 export), or a baseline."""
    from biozoo import api

    _check_device(device)
    if out is not None:
        _check_out_file(out)
    frame = api.predict(
        run,
        _sources(data),
        model=model,
        split=split,
        backend=backend,
        method=method,
        device=device,
    )
    _write_csv(frame, out, "predictions")


def _write_csv(frame, out: Path | None, what: str) -> None:
    """``frame`` as CSV on stdout, or written atomically to ``out``."""
    if out is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        with atomic_file(out) as tmp:
            frame.to_csv(tmp, index=False)
        err_console.print(f"wrote {len(frame)} {what} to {out}")


@app.command()
@_friendly
def embed(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    data: Annotated[
        list[str],
        typer.Argument(help="NAME=PATH per modality, or a YAML file with a data section."),
    ],
    model: Annotated[str | None, typer.Option(help="Only this latent model.")] = None,
    split: Annotated[
        str | None, typer.Option(help="The split whose ensemble embeds (default: the first).")
    ] = None,
    member: Annotated[int, typer.Option(help="The member of that ensemble.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write CSV here (default: stdout).")] = None,
    device: DeviceOption = None,
) -> None:
    """Latent coordinates (posterior mean and variance) of new samples, from a run's latent
    models (those with an objective)."""
    from biozoo import api

    _check_device(device)
    if out is not None:
        _check_out_file(out)
    frame = api.embed(run, _sources(data), model=model, split=split, member=member, device=device)
    _write_csv(frame, out, "embeddings")


@app.command()
@_friendly
def explain(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    method: Annotated[
        str, typer.Option(help="ig (integrated gradients), gradient_shap or deeplift.")
    ] = "ig",
    model: Annotated[
        list[str] | None, typer.Option(help="Only this model (repeat for several).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Recompute explanations that are already there.")
    ] = False,
    device: DeviceOption = None,
) -> None:
    """Feature attributions, transformer attention, graph explanations and image maps of a
    run's saved models, each on its own test samples; then rewrite the run's report.html to
    show them."""
    from biozoo import api

    _check_device(device)
    with err_console.status("computing attributions"):
        result = api.explain(run, method=method, models=model, overwrite=overwrite, device=device)
    table = Table(title="top features (mean |attribution| over folds)", box=box.SIMPLE_HEAD)
    for col in ("model", "method", "modality", "top 5", "file"):
        table.add_column(col, no_wrap=col != "top 5")
    for name, summary in result["models"].items():
        for mod, info in summary["modalities"].items():
            top = ", ".join(info["top"][:5])
            table.add_row(name, summary["method"], mod, top, f"{name}/{info['file']}")
    out_console.print(table)
    computed = ", ".join(result["computed"]) or "nothing new (use --overwrite to recompute)"
    out_console.print(f"computed: {computed}")
    out_console.print(f"attributions: {result['path']}")
    for key in ("attention", "explanations", "image_maps"):
        if result.get(key):
            out_console.print(f"{key}: {run / key} ({', '.join(result[key])})")
    out_console.print(f"report: {result['report']}")


@app.command()
@_friendly
def export(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Dynamic int8 copy of every member, for CPU inference.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Folder to create (default: RUN/int8).")] = None,
) -> None:
    """Export a run's trained ensembles for inference."""
    from biozoo import api

    if not int8:
        raise BiozooError("say which export you want: --int8 is the one there is so far.")
    out_console.print(f"int8 export: {api.export(run, out=out)}")


@app.command()
@_friendly
def report(run: Annotated[Path, typer.Argument(help="A finished run folder.")]) -> None:
    """(Re)write RUN/report.html from the run folder's files."""
    from biozoo import api

    out_console.print(f"report: {api.report(run)}")


@app.command()
@_friendly
def datasets() -> None:
    """List the bundled data sets (use one in a config as ``dataset: NAME/TABLE``)."""
    from biozoo.data.sources.datasets import list_datasets

    out_console.print(
        "[bold]bundled data sets[/] (in a config: dataset: NAME/TABLE per modality, "
        "dataset: NAME for the target)",
        highlight=False,
    )
    for d in list_datasets():
        out_console.print(
            f"\n[bold]{d.name}[/]: {d.n_samples} samples; target {d.target} ({d.task})",
            highlight=False,
        )
        out_console.print(
            f"  tables: {', '.join(f'{d.name}/{t}' for t in d.tables)}", highlight=False
        )
        out_console.print(d.description, highlight=False)


def _check_device(device: str | None) -> None:
    """Refuse ``--device`` before any work when it names no device, or CUDA that is absent."""
    if device is not None:
        from biozoo.train.device import resolve_device

        resolve_device(device, where="--device")


def _check_out_file(out: Path) -> None:
    """Refuse ``--out`` before any work when it names a folder or its folder is not one."""
    if out.is_dir():
        raise BiozooError(f"--out {out} is a folder; give the name of a CSV file to write.")
    if not out.parent.is_dir():
        raise BiozooError(f"--out {out}: the folder {out.parent} does not exist.")


def _sources(data: list[str]) -> dict[str, Path]:
    sources: dict[str, Path] = {}
    for item in data:
        if "=" in item:
            name, path = item.split("=", 1)
            sources[name] = Path(path)
        elif item.endswith((".yaml", ".yml")):
            sources.update(_yaml_sources(Path(item)))
        else:
            raise BiozooError(f"prediction data {item!r} is neither NAME=PATH nor a YAML file.")
    return sources


def _yaml_sources(path: Path) -> dict[str, Path]:
    raw = read_yaml(path, "prediction data file") or {}
    mods = (raw.get("data") or raw).get("modalities") if isinstance(raw, dict) else None
    if not isinstance(mods, dict):
        raise BiozooError(f"{path} has no data.modalities section.")
    out = {}
    for name, spec in mods.items():
        if not isinstance(spec, dict) or "path" not in spec:
            raise BiozooError(f"{path}: data.modalities.{name} has no path.")
        p = Path(spec["path"])
        out[name] = p if p.is_absolute() else (path.parent / p).resolve()
    return out


def _run(
    cfg,
    out: Path | None,
    *,
    resume: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> None:
    from biozoo import api
    from biozoo.data.align import load_cohort

    cohort = load_cohort(cfg.data)
    _check_out_dir(out if out is not None else cfg.output.dir)
    cluster = _cluster(workers, scheduler, cfg.training.threads)
    # a live bar on a terminal; plain periodic lines when the output goes to a log file
    live = out_console.is_terminal and err_console.is_terminal
    per_split = len(cfg.models) + len(cfg.baselines)
    with (
        cluster as runner,
        run_progress(err_console, cfg.training.split.n_splits, per_split, live=live) as progress,
    ):
        result = api.run(
            cfg, cohort=cohort, out_dir=out, progress=progress, resume=resume, runner=runner
        )
    _print_leaderboard(result.leaderboard, cohort.task.primary, cohort, cfg)
    out_console.print(f"run folder: {result.path}  ({result.seconds:.0f} s)")
    report = result.path / "report.html"
    if report.is_file():
        out_console.print(f"report: {report}")


def _cluster(workers: int | None, scheduler: str | None, threads: int | None):
    """A context that yields a Dask cluster's runner for ``--workers`` or ``--scheduler``
    (shared by train and search), else None."""
    from contextlib import nullcontext

    if workers is None and scheduler is None:
        return nullcontext(None)
    from biozoo.train.distributed import dask_runner

    return dask_runner(workers=workers, scheduler=scheduler, threads=threads)


def _check_out_dir(out: Path) -> None:
    """Refuse an output folder that is a file before any training."""
    if out.exists() and not out.is_dir():
        raise BiozooError(f"--out {out} is a file, not a folder for run folders.")


HEADERS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "balanced_accuracy": "bal. accuracy",
    "macro_f1": "macro-F1",
    "c_index": "C-index",
}


def _print_leaderboard(board, primary: str, cohort, cfg) -> None:
    """The terminal leaderboard: the task's :attr:`~biozoo.tasks.base.Task.shown_metrics`."""
    from biozoo.evaluate import format_mean_sd

    shown = cohort.task.shown_metrics or cohort.task.metric_names
    metrics = [m for m in shown if f"{m}_mean" in board.columns]
    table = Table(
        title=f"{cfg.name}: {len(cohort)} samples, {board['n_splits'].iloc[0]} splits, "
        f"mean ± sd over splits; sorted by {HEADERS.get(primary, primary.upper())}",
        box=box.SIMPLE_HEAD,
        caption="dim rows: classical baselines on the same splits",
    )
    table.add_column("method", no_wrap=True)
    for m in metrics:
        table.add_column(HEADERS.get(m, m.upper()), justify="right", no_wrap=True)
    for _, row in board.iterrows():
        kind = str(row.get("kind", ""))
        table.add_row(
            str(row["method"]),
            *[format_mean_sd(row[f"{m}_mean"], row[f"{m}_sd"]) for m in metrics],
            style="dim" if kind == "baseline" else None,
        )
    out_console.print(table)


def main() -> None:
    """Console entry point; an interrupted command exits with 128 + the signal's number."""
    _catch_signals()
    try:
        app()
    except Interrupted as sig:
        from biozoo.train.runfolder import kept_run

        name = signal.Signals(sig.signum).name
        kept = kept_run(sig)
        done = (
            f"its finished units are kept in {kept}: finish it with biozoo train --resume {kept}"
            if kept is not None
            else "nothing was left half-written"
        )
        err_console.print(
            f"[bold red]interrupted:[/] {name} arrived; {done}.", highlight=False, soft_wrap=True
        )
        sys.exit(128 + sig.signum)
