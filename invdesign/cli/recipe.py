"""`invdesign recipe`: target descriptors -> recipes (phi, chi, annealing time), verified by the
simulator; `invdesign surrogate`: fit a model's recipe surrogate from a label table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from invdesign.cli.errors import user_errors


def parse_bounds(values: list[str] | None) -> dict[str, tuple[float, float]]:
    """``["time=300:3000", "chi=3:4"]`` -> ``{"time": (300.0, 3000.0), "chi": (3.0, 4.0)}``."""
    out = {}
    for v in values or []:
        name, sep, rng = v.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not sep or not sep2:
                raise ValueError
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ValueError(f"bound {v!r} is not NAME=LOW:HIGH (e.g. time=300:3000)") from None
    return out


def _line(r: dict, names) -> str:
    v = r["verification"]
    pred = ", ".join(f"{n} {r['predicted'][n]['mean']:.3f}" for n in names)
    head = f"phi={r['phi']:.3f} chi={r['chi']:.3f} time={r['time']:.4g}"
    if v is None or not v.get("seeds"):
        return f"{head}: predicted {pred} (distance {r['predicted_distance']:.2f}, P {r['p_success']:.2f}); not verified"
    meas = ", ".join(f"{n} {v['mean'][n]:.3f}+-{v['std'][n]:.3f}" for n in names)
    ok = "meets" if v["success"] else "misses"
    return (f"{head}: verified {meas} -> distance {v['distance_to_target']:.2f} ({ok} the targets); "
            f"predicted {pred}")


def register(app: typer.Typer) -> None:
    """Add ``recipe`` and ``surrogate`` to the app."""

    @app.command()
    def recipe(
        target: Annotated[list[str], typer.Option("--target", "-t", help="NAME=VALUE, repeat per descriptor.")],
        model: Annotated[str, typer.Option(help="Shipped model name or model directory.")] = "ch2-default",
        tolerance: Annotated[list[str] | None, typer.Option(help="Absolute tolerance, or NAME=TOL per target (default 0.03).")] = None,
        verify_seeds: Annotated[int, typer.Option(help="Fresh-seed simulations per verified recipe.")] = 3,
        verify_recipes: Annotated[int, typer.Option(help="Recipes re-simulated (0: prediction only).")] = 3,
        recipes: Annotated[int | None, typer.Option(help="Recipes listed (default max(verify-recipes, 5)).")] = None,
        bound: Annotated[list[str] | None, typer.Option(help="NAME=LOW:HIGH narrowing phi, chi or time.")] = None,
        table: Annotated[Path | None, typer.Option(help="Label table (CSV) to fit a surrogate from when the model has none.")] = None,
        surrogate: Annotated[Path | None, typer.Option(help="A surrogate file to use instead of the model's.")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Keep runs and results here; the same command resumes.")] = None,
        seed: Annotated[int, typer.Option(help="Base of the verification seeds.")] = 0,
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    ) -> None:
        """Find recipes (phi, chi, annealing time) predicted by the model's recipe surrogate to make
        the targets, re-simulate the most promising with fresh seeds at the model's resolution, and
        rank them by verified distance (tolerance units, mean over seeds). Progress goes to stderr;
        with --out, Ctrl-C keeps every finished simulation and the same command resumes."""
        from invdesign.cli.design import parse_tolerance
        from objectives.targets import parse_target

        err = Console(stderr=True)
        with user_errors():
            targets = dict(parse_target(t) for t in target)
            tol = parse_tolerance(tolerance) if tolerance else 0.03
            bounds = parse_bounds(bound)
            if table is not None and not table.is_file():
                raise ValueError(f"no label table at {table}")
            import invdesign

            def on_event(ev: dict) -> None:
                if ev["stage"] == "verify":
                    what = "read back" if ev["resumed"] else f"{ev['seconds']:.0f} s"
                    err.print(f"recipe {ev['recipe']}/{ev['recipes']}, run {ev['run']}/{ev['runs']} "
                              f"({what}); {ev['done']}/{ev['total']} runs")
                else:
                    err.print("inverting the recipe surrogate...")

            try:
                result = invdesign.recipe(
                    targets, tol, model, verify_seeds=verify_seeds, verify_recipes=verify_recipes,
                    n_recipes=recipes, seed=seed, table=table, surrogate=surrogate, bounds=bounds,
                    out_dir=out, device=device, progress=on_event)
            except KeyboardInterrupt:
                where = f"; finished runs are kept in {out}: run the same command to resume" if out else ""
                err.print(f"stopped{where}")
                raise typer.Exit(code=130) from None
        summary = result.summary()
        clean = json.loads(json.dumps(summary, default=float).replace("NaN", "null"))
        if as_json:
            typer.echo(json.dumps(clean, indent=2))
            return
        names = list(targets)
        for i, r in enumerate(clean["recipes"]):
            err.print(f"{i}. {_line(r, names)}", highlight=False)
        path = clean["pathway"]
        if path:
            ok = [p for p in path if p["predicted_distance"] <= 1]
            if ok:
                err.print("pathway (predicted within tolerance): " + "; ".join(
                    f"t={p['time']:.4g}: chi={p['chi']:.2f}, phi={p['phi']:.2f}" for p in ok), highlight=False)
        flag = "meets every target" if result.success else "no verified recipe meets every target"
        err.print(f"{flag} ({summary['state']}, {summary['seconds']:.0f} s)")
        if out is not None:
            err.print(f"wrote {out / 'recipes.json'}")

    @app.command()
    def surrogate(
        table: Annotated[Path, typer.Option("--table", help="Label table (CSV): one row per simulated snapshot.")],
        model: Annotated[str, typer.Option(help="Model directory or shipped name to write surrogate.safetensors into.")],
        descriptors: Annotated[list[str] | None, typer.Option("--descriptor", "-d", help="Descriptor to model (repeat; default: the model's conditions).")] = None,
        sets: Annotated[list[str] | None, typer.Option("--set", help="Table sets to fit on (repeat; default train).")] = None,
        held: Annotated[list[str] | None, typer.Option("--held", help="Table sets to score on (default held, when present).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Fit the recipe surrogate (recipe -> descriptor mean and seed spread) of a model from the
        label table of its training simulations and ship it into the model directory."""
        from generators.diffusion.config import ModelConfig
        from generators.diffusion.model_dir import resolve, save_surrogate
        from generators.surrogate import fit_surrogate, read_table, score

        err = Console(stderr=True)
        with user_errors():
            directory = resolve(model)
            rows = read_table(table)
            names = list(descriptors or ModelConfig.load(directory / "config.json").conditions.names)
            fitted = fit_surrogate(rows, names, tuple(sets or ("train",)),
                                   progress=lambda n: err.print(f"fitting {n}...") if not as_json else None)
            held_sets = tuple(held or ("held",))
            if "set" in rows[0] and any(str(r["set"]) in held_sets for r in rows):
                fitted.info["held_out"] = score(fitted, rows, held_sets)
            path = save_surrogate(directory, fitted)
        summary = {"file": str(path), "descriptors": fitted.names, **fitted.info}
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
            return
        err.print(f"wrote {path} ({fitted.info['rows_fitted']} rows, {fitted.info['series']} series, "
                  f"{fitted.info['fit_seconds']:.0f} s)")
        for n, s in summary.get("held_out", {}).get("descriptors", {}).items():
            err.print(f"  {n}: held-out R^2 {s['r2']:.3f}, RMSE {s['rmse']:.4f}, "
                      f"95% coverage {s['coverage95']:.2f}")

