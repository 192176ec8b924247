"""`invdesign verify`: re-simulate a design candidate's recipe, or any recipe, and measure it again."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from invdesign.cli.errors import user_errors


def register(app: typer.Typer) -> None:
    """Add ``verify`` to the app."""

    @app.command()
    def verify(
        out: Annotated[Path | None, typer.Option("--out", "-o", help="A design's output directory.")] = None,
        storage: Annotated[str | None, typer.Option(help="Optuna storage URL or journal file.")] = None,
        study_name: Annotated[str | None, typer.Option(help="Study name (needed if the storage holds several).")] = None,
        rank: Annotated[int, typer.Option(help="Candidate rank (0 = best).")] = 0,
        recipe: Annotated[str, typer.Option(help="Candidate's recipe: auto (the surrogate's if it has one), surrogate or fp.")] = "auto",
        phi: Annotated[float | None, typer.Option(help="Verify this recipe instead of a candidate's (with --chi, --time, --target).")] = None,
        chi: Annotated[float | None, typer.Option(help="Recipe chi.")] = None,
        time: Annotated[float | None, typer.Option("--time", help="Recipe annealing time (simulation units).")] = None,
        target: Annotated[list[str] | None, typer.Option("--target", "-t", help="NAME=VALUE to compare a given recipe with.")] = None,
        tolerance: Annotated[list[str] | None, typer.Option(help="Absolute tolerance, or NAME=TOL per target.")] = None,
        model: Annotated[str | None, typer.Option(help="For a given recipe: the model whose simulator verifies it.")] = None,
        runs: Annotated[Path | None, typer.Option(help="Keep finished runs here and reuse them (default OUT/verify with --out).")] = None,
        seeds: Annotated[int, typer.Option(help="Simulations of the recipe.")] = 3,
        seed: Annotated[int, typer.Option(help="Base seed.")] = 0,
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Run the Cahn-Hilliard simulator at a candidate's recipe (the surrogate's, else the feature
        predictor's phi, chi, 10**log_time) or at --phi/--chi/--time, and report distances to the
        targets and to the candidate (in tolerance units). Finished runs are kept (OUT/verify or
        --runs), so a stopped verification resumes."""
        from rich.console import Console

        from invdesign.verification import verify as run_verify

        err = Console(stderr=True)

        def on_run(ev: dict) -> None:
            if not as_json:
                what = "read back" if ev["resumed"] else f"{ev['seconds']:.0f} s"
                err.print(f"run {ev['run']}/{ev['runs']} ({what})")

        extra = {}
        with user_errors():
            given = [v is not None for v in (phi, chi, time)]
            if any(given):
                from invdesign.cli.design import parse_tolerance
                from objectives.targets import parse_target

                if not all(given):
                    raise ValueError("give all of --phi, --chi and --time to verify a recipe")
                if not target:
                    raise ValueError("give the targets to compare the recipe with (--target NAME=VALUE)")
                if not time > 0:
                    raise ValueError(f"--time must be positive, got {time}")

                row = {"phi": phi, "chi": chi, "log_time": math.log10(time)}
                res = run_verify(row, seeds=seeds, seed=seed, device=device,
                                 targets=dict(parse_target(t) for t in target),
                                 tolerance=parse_tolerance(tolerance), model=model, recipe="fp",
                                 runs=runs, progress=on_run)
            else:
                from invdesign.loop.results import candidates_table, load_trial_volumes
                from invdesign.studies.study import Settings, open_existing

                study = open_existing(storage, out, study_name)
                table = candidates_table(study)
                if not 0 <= rank < len(table):
                    raise ValueError(f"no candidate of rank {rank} ({len(table)} candidates)")
                row = table.iloc[rank]
                shape = load_trial_volumes(study, int(row["trial"])).shape[1:]
                settings = Settings.from_study(study)
                if runs is None and out is not None:
                    runs = out / "verify"
                res = run_verify(row, seeds=seeds, seed=seed, device=device, shape=shape,
                                 targets=settings.target_spec, model=settings.model, recipe=recipe,
                                 runs=runs, progress=on_run)
                extra = dict(study_name=study.study_name, rank=rank, trial=int(row["trial"]),
                             sample=int(row["sample"]))
        summary = res.summary()
        summary.update(extra)
        clean = json.loads(json.dumps(summary, default=float).replace("NaN", "null"))
        if as_json:
            typer.echo(json.dumps(clean, indent=2))
            return
        dc = res.distance_to_candidate
        typer.echo(
            f"{res.source} recipe phi={res.recipe['phi']:.4g} chi={res.recipe['chi']:.4g} "
            f"time={res.recipe['time']:.4g}: distance to target {res.distance_to_target:.3g}, "
            f"to candidate {'n/a' if math.isnan(dc) else f'{dc:.3g}'} "
            f"({'meets' if res.success else 'misses'} the targets)"
        )
