"""`invdesign verify`: re-simulate a design candidate's recipe and measure it again."""

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
        seeds: Annotated[int, typer.Option(help="Simulations of the recipe.")] = 3,
        seed: Annotated[int, typer.Option(help="Base seed.")] = 0,
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Run the Cahn-Hilliard simulator at a candidate's recipe (phi, chi, 10**log_time) and
        report distances to the targets and to the candidate (in tolerance units)."""
        from invdesign.loop.results import candidates_table, load_trial_volumes
        from invdesign.studies.study import Settings, open_existing
        from invdesign.verification import verify as run_verify

        with user_errors():
            study = open_existing(storage, out, study_name)
            table = candidates_table(study)
            if not 0 <= rank < len(table):
                raise ValueError(f"no candidate of rank {rank} ({len(table)} candidates)")
            row = table.iloc[rank]
            shape = load_trial_volumes(study, int(row["trial"])).shape[1:]
            settings = Settings.from_study(study)
            res = run_verify(row, seeds=seeds, seed=seed, device=device, shape=shape,
                             targets=settings.target_spec, model=settings.model)
        summary = res.summary()
        summary.update(study_name=study.study_name, rank=rank, trial=int(row["trial"]),
                       sample=int(row["sample"]))
        clean = json.loads(json.dumps(summary, default=float).replace("NaN", "null"))
        if as_json:
            typer.echo(json.dumps(clean, indent=2))
            return
        dc = res.distance_to_candidate
        typer.echo(
            f"recipe phi={res.recipe['phi']:.4g} chi={res.recipe['chi']:.4g} "
            f"time={res.recipe['time']:.4g}: distance to target {res.distance_to_target:.3g}, "
            f"to candidate {'n/a' if math.isnan(dc) else f'{dc:.3g}'} "
            f"({'meets' if res.success else 'misses'} the targets)"
        )
