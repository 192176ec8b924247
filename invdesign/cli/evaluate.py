"""`invdesign evaluate MODEL`: conditioning accuracy, FP recipe error and diversity of a model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from invdesign.cli.errors import user_errors


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the app."""

    @app.command()
    def evaluate(
        model: str = typer.Argument(..., help="Model directory or shipped name (e.g. ch2-default)."),
        data: Path | None = typer.Option(None, "--data", help="Held-out HDF5 shards (targets and FP test)."),
        n_conditions: int = typer.Option(8, "--n-conditions", help="Conditions to evaluate."),
        n_samples: int = typer.Option(4, "--n-samples", help="Samples per condition."),
        n_diversity: int = typer.Option(8, "--n-diversity", help="Samples at the fixed condition for diversity."),
        sampler: str | None = typer.Option(None, "--sampler", help="dpmpp2m, ddim or ancestral (default: the model's)."),
        steps: int | None = typer.Option(None, "--steps", help="Sampler steps."),
        guidance: float | None = typer.Option(None, "--guidance", help="Classifier-free guidance scale."),
        fp_guidance: float | None = typer.Option(None, "--fp-guidance", help="Descriptor-guidance step (0 = off; default: the model's)."),
        calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate",
                                       help="Sample through the model's condition calibration, if it has one."),
        limit: int | None = typer.Option(256, "--limit", help="Read at most this many held-out samples."),
        seed: int = typer.Option(0, "--seed"),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Generate at held-out conditions, measure the volumes and report R^2/MAE per condition,
        the feature predictor's error on held-out volumes and the diversity at one condition."""
        from generators.diffusion.data import load_shards
        from generators.diffusion.evaluation import evaluate as run
        from generators.diffusion.generator import load

        with user_errors():
            gen = load(model, device=device)
            held = load_shards(data, limit=limit) if data is not None else None
            report = run(gen, held, n_conditions=n_conditions, n_samples=n_samples, n_diversity=n_diversity,
                         sampler=sampler, steps=steps, guidance=guidance, seed=seed, fp_guidance=fp_guidance,
                         calibrate=None if calibrate else False)
        if as_json:
            typer.echo(json.dumps(report, indent=2, allow_nan=True))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"conditioning ({report['n_conditions']} conditions x {report['n_samples']} samples)")
        for c in ("condition", "R2", "MAE", "R2 of means", "MAE of means"):
            t.add_column(c)
        for k, v in report["conditioning"].items():
            t.add_row(k, _fmt(v["r2"]), _fmt(v["mae"]), _fmt(v["r2_of_means"]), _fmt(v["mae_of_means"]))
        Console().print(t)
        if "fp_on_heldout" in report:
            f = Table(title="feature predictor on held-out volumes")
            for c in ("output", "R2", "MAE"):
                f.add_column(c)
            for k, v in report["fp_on_heldout"].items():
                f.add_row(k, _fmt(v["r2"]), _fmt(v["mae"]))
            Console().print(f)
        d = report["diversity"]
        typer.echo(f"diversity: voxel disagreement {_fmt(d['voxel_disagreement'])}; descriptor std "
                   + ", ".join(f"{k} {_fmt(v)}" for k, v in d["descriptor_std"].items()))
        if "reconstruction" in report:
            r = report["reconstruction"]
            typer.echo(f"reconstruction: voxel accuracy {_fmt(r['voxel_accuracy'])} (min {_fmt(r['voxel_accuracy_min'])})")
        g = Table(title="stage gates")
        for c in ("gate", "value", "threshold", "passed"):
            g.add_column(c)
        for k, v in report["gates"].items():
            if k != "passed":
                g.add_row(k, _fmt(v["value"]), _fmt(v["threshold"]), str(v["passed"]))
        Console().print(g)
        typer.echo("gates passed: " + ", ".join(f"{k} {v}" for k, v in report["gates"]["passed"].items()))
