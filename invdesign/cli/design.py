"""`invdesign design`: search a model's condition space for volumes meeting target descriptors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from invdesign.cli.errors import user_errors


def parse_tolerance(values: list[str] | None) -> float | dict[str, float]:
    """``["0.02"]`` -> 0.02; ``["ABS_f_D=0.01", ...]`` -> per-name dict; none -> 0.02."""
    from objectives.targets import parse_target

    if not values:
        return 0.02
    if len(values) == 1 and "=" not in values[0]:
        try:
            return float(values[0])
        except ValueError:
            raise ValueError(f"tolerance {values[0]!r} is not a number") from None
    return dict(parse_target(v) for v in values)


def completed_before(storage: str | None, out: Path, study_name: str | None) -> int:
    """COMPLETE trials a study to be resumed already holds (0 when it does not exist yet)."""
    from invdesign.loop.runner import complete_count
    from invdesign.studies.study import open_existing

    try:
        return complete_count(open_existing(storage, out, study_name or "design"))
    except ValueError:
        return 0


def register(app: typer.Typer) -> None:
    """Add ``design`` to the app."""

    @app.command()
    def design(
        target: Annotated[list[str], typer.Option("--target", "-t", help="NAME=VALUE, repeat per descriptor.")],
        model: Annotated[str, typer.Option(help="Shipped model name or weight-pack directory.")] = "ch2-default",
        tolerance: Annotated[list[str] | None, typer.Option(help="Absolute tolerance, or NAME=TOL per target.")] = None,
        budget: Annotated[int, typer.Option(help="Total trials the study should hold (0: create it only).")] = 20,
        samples: Annotated[int, typer.Option(help="Volumes generated per trial.")] = 4,
        batch_size: Annotated[int, typer.Option(help="Conditions proposed together.")] = 1,
        method: Annotated[str, typer.Option(help="bo, direct, random, tpe or gp.")] = "bo",
        seed: Annotated[int, typer.Option()] = 0,
        storage: Annotated[str | None, typer.Option(help="Optuna storage URL or journal file (default OUT/study.journal).")] = None,
        study_name: Annotated[str | None, typer.Option(help="Study name (an existing one is resumed).")] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("design-out"),
        time_budget: Annotated[float | None, typer.Option(help="Seconds after which no trial starts.")] = None,
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        screen: Annotated[int | None, typer.Option(help="Latents per kept sample, ranked by the model's feature predictor before decoding (1: off; default 4 when the model can).")] = None,
        threads: Annotated[str | None, typer.Option(help="torch CPU threads, or 'auto': the free cores, re-checked while running (default; env INVDESIGN_THREADS).")] = None,
        initial_radius: Annotated[float | None, typer.Option(help="BO: initial points within this fraction of each condition's range around the target condition (1: the whole space).")] = None,
        prior: Annotated[str | None, typer.Option(help="BO prior mean: 'generator' (samples meet their condition; the GPs learn the model's error; default) or 'flat'.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Find conditions whose generated volumes meet the targets (composite BO by default).

        Writes OUT/candidates/*.npz (key 'volume'), OUT/candidates.csv, OUT/summary.json and the
        Optuna study (open it with optuna-dashboard).
        """
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from invdesign.loop.scoring import trial_best
        from objectives.targets import parse_target

        err = Console(stderr=True)
        with user_errors():
            targets = dict(parse_target(t) for t in target)
            tol = parse_tolerance(tolerance)
            from invdesign.threads import ThreadPolicy

            ThreadPolicy(threads)  # a bad --threads or INVDESIGN_THREADS: one line, before anything runs
            if budget < 0:
                raise ValueError(f"budget must be >= 0, got {budget}")
            import invdesign

            best = [float("inf")]
            started: list[bool] = []
            progress = Progress(
                TextColumn("[bold]design[/]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("best distance {task.fields[best]}"), TimeElapsedColumn(),
                console=err, disable=as_json,
            )
            done = min(completed_before(storage, out, study_name), budget)
            task = progress.add_task("trials", total=budget, completed=done, best="-")

            def on_trial(trial) -> None:
                # started at the first finished trial, so input errors stay one clean line
                if not started:
                    progress.start()
                    started.append(True)
                trial_value = trial_best(trial)  # the study's best: invdesign.loop.scoring
                if trial_value is not None:
                    best[0] = min(best[0], trial_value)
                progress.update(task, completed=progress.tasks[0].completed + 1, best=f"{best[0]:.3g}")

            try:
                result = invdesign.design(
                    targets=targets, tolerance=tol, model=model, budget=budget,
                    time_budget=time_budget, samples_per_trial=samples, batch_size=batch_size,
                    method=method, seed=seed, storage=storage, study_name=study_name,
                    out_dir=out, device=device, callback=on_trial, threads=threads,
                    screen=screen, initial_radius=initial_radius, prior=prior,
                )
            finally:
                if started:
                    progress.stop()
        summary = result.summary()
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
            return
        if result.best is None:
            err.print(f"study {summary['study_name']!r} created in {out}; no trials run")
            return
        flag = "[green]meets every target[/]" if result.success else "[yellow]closest (no candidate meets every target)[/]"
        err.print(
            f"{summary['trials_complete']} trials, {summary['candidates']} candidates, "
            f"{summary['n_success']} within tolerance; best: trial {int(result.best['trial'])} "
            f"sample {int(result.best['sample'])}, distance {result.best['distance']:.3g} - {flag}"
        )
        err.print(f"wrote {out / 'candidates.csv'}, {out / 'summary.json'} and {len(result.files)} volumes")
