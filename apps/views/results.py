"""Main-page section: the optimisation plots, the candidate browser, downloads and verification."""

from __future__ import annotations

import streamlit as st

from apps import plots, results, volume_plots
from apps.views.recipes import recipes_section


def results_section(result, settings: dict) -> None:
    """Tabs over a ``DesignResult``: optimisation, candidates, verification, recipes.

    ``settings`` holds ``targets``, ``tolerance`` (per target) and ``condition_names``.
    """
    try:
        table = results.candidate_table(result)
    except ValueError as exc:
        st.error(str(exc))
        return
    if table.empty:
        st.warning("The run produced no candidates yet.")
        return
    opt, cand, ver, rec = st.tabs(["Optimisation", "Candidates", "Verify", "Recipes"])
    with opt:
        _optimisation(table, settings, settings.get("condition_names", []))
    with cand:
        row = _candidates(result, table)
    with ver:
        _verify(table, row, settings)
    with rec:
        model = st.session_state.get("generator")
        if model is None and getattr(result, "settings", None) is not None:
            model = result.settings.model
        recipes_section(settings, model)


def _optimisation(table, settings: dict, condition_names: list[str]) -> None:
    if "distance" in table.columns:
        st.plotly_chart(plots.distance_figure(table), key="fig_distance")
    st.plotly_chart(plots.measured_figure(table, settings["targets"], settings["tolerance"]),
                    key="fig_measured")
    columns = results.condition_columns(table, condition_names)
    if columns:
        st.caption("Where the trials went in the model's condition space")
        st.plotly_chart(plots.condition_figure(table, list(columns.values())), key="fig_conditions")


def _candidates(result, table) -> int:
    n_ok = int(table["success"].sum()) if "success" in table.columns else 0
    st.caption(f"{len(table)} candidates, {n_ok} within every tolerance (ranked, best first)")
    st.dataframe(table, key="candidate_table")
    st.download_button("Download table (csv)", results.table_csv(table), "candidates.csv",
                       "text/csv", key="dl_csv")
    row = int(st.number_input("Candidate (row)", min_value=0, max_value=len(table) - 1, value=0,
                              key="candidate"))
    volume = results.candidate_volume(result, row)
    recipe = results.recipe(table.iloc[row])
    found = results.surrogate_recipe(table.iloc[row])
    if found:
        st.caption("Recipe found with the model's recipe surrogate (predicted distance "
                   f"{found.pop('predicted_distance'):.2f} to this candidate)")
        cols = st.columns(len(found))
        for col, (k, v) in zip(cols, found.items()):
            col.metric(k, f"{v:.4g}")
    if recipe:
        if found:
            st.caption("The feature predictor's guess")
        cols = st.columns(len(recipe))
        for col, (k, v) in zip(cols, recipe.items()):
            col.metric(k, f"{v:.4g}")
    left, right = st.columns(2)
    with left:
        names = {v[0]: k for k, v in volume_plots.PHASES.items()}
        shown = st.multiselect("Phases in 3-D (downsampled to 32 voxels a side)", list(names),
                               default=["acceptor", "mixed"], key="phases_3d")
        st.plotly_chart(volume_plots.volume_figure(volume, phases=[names[n] for n in shown]),
                        key="fig_volume")
    with right:
        axis = st.radio("Slice axis", volume_plots.AXES, horizontal=True, key="slice_axis")
        size = volume.shape[volume_plots.AXES.index(axis)]
        index = st.slider("Slice", 0, size - 1, size // 2, key=f"slice_{axis}")
        st.plotly_chart(volume_plots.slice_figure(volume, axis, index), key="fig_slice")
    fmt = st.selectbox("Volume format", ["npz", "vti", "tif"], key="dl_format")
    try:
        data = results.volume_bytes(volume, fmt)
        st.download_button(f"Download candidate {row} ({fmt})", data, f"candidate_{row}.{fmt}",
                           key="dl_volume")
    except ValueError as exc:
        st.error(str(exc))
    if {"chi", "log_time"} <= set(table.columns):
        st.plotly_chart(plots.recipe_figure(table), key="fig_recipes")
    return row


def _verify(table, row: int, settings: dict) -> None:
    st.write("Re-run the candidate's recipe (phi, chi, annealing time: the surrogate's when the "
             "model has one, else the feature predictor's) through the Cahn-Hilliard simulator and "
             "compare what it makes with the targets and the candidate.")
    seeds = st.number_input("Simulator seeds", min_value=1, value=3, key="verify_seeds")
    if st.button(f"Verify candidate {row}", key="verify"):
        import invdesign

        try:
            with st.spinner("Simulating the recipe..."):
                report = invdesign.verify(table.iloc[row], seeds=int(seeds),
                                          targets=settings["targets"],
                                          tolerance=settings["tolerance"],
                                          device=st.session_state.get("device", "cpu"),
                                          model=st.session_state.get("generator"))
            st.session_state.verified = (row, report)
        except (ValueError, ImportError, AttributeError) as exc:
            st.error(str(exc))
    done = st.session_state.get("verified")
    if done is not None and done[0] == row:
        _show_verification(done[1], table.iloc[row], settings)


def _show_verification(report, candidate, settings: dict) -> None:
    import pandas as pd

    c1, c2, c3 = st.columns(3)
    c1.metric("distance to target", f"{report.distance_to_target:.3g}")
    c2.metric("distance to candidate", f"{report.distance_to_candidate:.3g}")
    c3.metric("verified", "yes" if report.success else "no")
    st.caption(f"simulated the {'surrogate' if report.source == 'surrogate' else 'feature predictor'}'s "
               f"recipe: phi {report.recipe['phi']:.3f}, chi {report.recipe['chi']:.3f}, "
               f"time {report.recipe['time']:.4g}")
    rows = [{"descriptor": n, "target": t, "candidate": candidate.get(n),
             "simulated (mean)": report.mean.get(n)} for n, t in settings["targets"].items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.dataframe(report.table, hide_index=True)
