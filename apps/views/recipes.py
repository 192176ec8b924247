"""Main-page section: recipes for the targets: the pathway map (chi against annealing time at a
blend ratio, predicted distance as contours, verified recipes as points) and a recipe search with
verification running in the background (progress, stop, resume)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from apps import plots
from apps.runner import RecipeRun
from generators.protocol import RECIPE_NAMES

RECIPE_DIR = Path("runs") / "dashboard" / "recipes"


def _surrogate(model):
    """The model's recipe surrogate, or the message saying why there is none."""
    from invdesign.recipes.api import model_surrogate

    try:
        return model_surrogate(model)[0], None
    except ValueError as exc:
        return None, str(exc)


def recipe_frame(result) -> pd.DataFrame:
    """One row per ranked recipe: recipe, prediction and (when simulated) verification."""
    rows = []
    for r in result.summary()["recipes"]:
        row = {k: r[k] for k in (*RECIPE_NAMES[:2], "time", *RECIPE_NAMES[2:], "predicted_distance", "p_success")}
        v = r["verification"] or {}
        row["verified_distance"] = v.get("distance_to_target", float("nan"))
        for n, m in (v.get("mean") or {}).items():
            row[f"{n} (verified)"] = f"{m:.3f} +- {v['std'][n]:.3f}"
        for n, p in r["predicted"].items():
            row[f"{n} (predicted)"] = f"{p['mean']:.3f} +- {p['seed_std']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def recipes_section(settings: dict, model) -> None:
    """The Recipes tab for ``settings["targets"]`` / ``["tolerance"]`` on ``model`` (a generator or
    a model name)."""
    targets = dict(settings.get("targets") or {})
    tolerance = settings.get("tolerance") or {}
    if not targets:
        st.info("Set targets to see recipes for them.")
        return
    surrogate, why = _surrogate(model)
    if surrogate is None:
        st.info(why)
        return
    missing = [n for n in targets if n not in surrogate.names]
    if missing:
        st.warning(f"the recipe surrogate does not model {', '.join(missing)} (it models "
                   f"{', '.join(surrogate.names)})")
        return
    tol = {n: float(tolerance.get(n, 0.03) if isinstance(tolerance, dict) else tolerance) for n in targets}
    c1, c2 = st.columns(2)
    seeds = int(c1.number_input("Seeds per verified recipe", min_value=1, value=3, key="recipe_seeds"))
    n_verify = int(c2.number_input("Recipes to verify", min_value=0, value=2, key="recipe_count"))
    run: RecipeRun | None = st.session_state.get("recipe_run")
    running = run is not None and run.alive
    b1, b2 = st.columns(2)
    if b1.button("Find and verify recipes (resumes)", disabled=running, key="recipe_start"):
        key = json.dumps({"t": targets, "tol": tol, "s": seeds, "k": n_verify,
                          "m": str(getattr(model, "directory", None) or model)}, sort_keys=True, default=str)
        out = RECIPE_DIR / hashlib.sha256(key.encode()).hexdigest()[:12]
        import invdesign

        run = RecipeRun(invdesign.recipe, dict(
            targets=targets, tolerance=tol, model=model, surrogate=surrogate, verify_seeds=seeds,
            verify_recipes=n_verify, out_dir=str(out), device=st.session_state.get("device", "cpu")))
        st.session_state.recipe_run = run.start()
        running = True
    if b2.button("Stop", disabled=not running, key="recipe_stop") and run is not None:
        run.stop()
        st.info("Stopping after the simulation in progress (finished runs are kept).")
    if run is not None:
        st.fragment(_live, run_every=1.0 if run.alive else None)()
    _pathway_map(surrogate, targets, tol, seeds)


def _live() -> None:
    run: RecipeRun = st.session_state.recipe_run
    ev = run.event
    label = {"running": "Recipe search running", "finished": "Recipe search finished",
             "stopped": "Recipe search stopped", "failed": "Recipe search failed"}.get(run.state, run.state)
    state = {"running": "running", "failed": "error"}.get(run.state, "complete")
    with st.status(label, state=state, expanded=run.alive):
        if ev.get("stage") == "verify":
            st.progress(ev["done"] / max(ev["total"], 1),
                        text=f"recipe {ev['recipe']}/{ev['recipes']}, run {ev['run']}/{ev['runs']}: "
                             f"{ev['done']}/{ev['total']} simulations")
        elif run.alive:
            st.write("inverting the surrogate...")
    if run.error:
        st.error(run.error)
    if not run.alive and st.session_state.get("shown_recipe_run") is not run:
        st.session_state.shown_recipe_run = run
        st.rerun()


def _pathway_map(surrogate, targets: dict, tol: dict, seeds: int) -> None:
    from invdesign.recipes.search import search_for

    names = list(targets)
    t = [targets[n] for n in names]
    tl = [tol[n] for n in names]
    search = search_for(surrogate, names)
    run: RecipeRun | None = st.session_state.get("recipe_run")
    result = run.result if run is not None and not run.alive else None
    frame = recipe_frame(result) if result is not None and list(result.targets.values) == names else None
    if frame is not None and len(frame):
        phi0 = float(frame.iloc[0]["phi"])
    else:
        phi0 = search.find(t, tl, seeds, n=1)[0].phi
    lo, hi = float(search.lower[0]), float(search.upper[0])
    phi = st.slider("Blend ratio phi of the map", min_value=lo, max_value=hi,
                    value=min(max(phi0, lo), hi), step=(hi - lo) / 100, key="recipe_phi")
    chi, lt, dist, _ = search.plane(phi, t, tl, seeds)
    shown = None
    if frame is not None and len(frame):
        near = (frame["phi"] - phi).abs() <= 0.05 * (hi - lo) + 1e-9
        shown = frame[near]
    st.plotly_chart(plots.pathway_figure(chi.numpy(), lt.numpy(), dist.numpy(), phi, shown),
                    key="fig_pathway")
    st.caption("Contours: the surrogate's predicted distance to the targets (tolerance units; inside "
               "the white line every target is predicted to be met). Points: recipes within 5% of "
               "this phi (filled: verified by simulation, coloured by verified distance).")
    if frame is not None:
        st.dataframe(frame, hide_index=True, key="recipe_table")
