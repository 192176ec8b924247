"""Sidebar section: targets (sliders), tolerances (number inputs), budget and run settings."""

from __future__ import annotations

import streamlit as st

from apps.targets import check_targets, target_ranges

METHODS = ("bo", "direct", "random", "tpe", "gp")


def targets_section(summary: dict) -> dict | None:
    """Draw the target controls; returns the design settings, or ``None`` if they are infeasible.

    The settings dict holds ``targets``, ``tolerance`` (per target), ``budget``,
    ``samples_per_trial``, ``method``, ``seed`` and ``threads`` (``None``: automatic); problems are shown with ``st.error``.
    """
    st.header("Targets")
    ranges = target_ranges(summary)
    names = st.multiselect("Descriptors to target", list(ranges), default=list(ranges),
                           key="target_names")
    targets, tolerance = {}, {}
    for name in names:
        lo, hi = ranges[name]
        mid = round((lo + hi) / 2, 4)
        step = max((hi - lo) / 200, 1e-4)
        targets[name] = st.slider(name, min_value=lo, max_value=hi, value=mid, step=step,
                                  key=f"target_{name}")
        tolerance[name] = st.number_input(f"tolerance of {name}", value=0.02, min_value=0.0,
                                          step=0.005, format="%.4f", key=f"tol_{name}")
    st.header("Search")
    budget = st.number_input("Budget (trials)", min_value=0, value=8, step=1, key="budget",
                             help="Complete trials the study should hold; resuming runs the rest.")
    samples = st.number_input("Samples per trial", min_value=1, value=4, step=1, key="samples")
    method = st.selectbox("Method", METHODS, key="method")
    seed = st.number_input("Seed", min_value=0, value=0, step=1, key="seed")
    threads = st.number_input("CPU threads (0 = auto: the free cores)", min_value=0, value=0, step=1,
                              key="threads", help="torch threads of the run; auto re-checks the "
                              "free cores while it runs (INVDESIGN_THREADS also sets it).")
    problems = check_targets(targets, tolerance, summary)
    for problem in problems:
        st.error(problem)
    if problems:
        return None
    return {"targets": targets, "tolerance": tolerance, "budget": int(budget),
            "samples_per_trial": int(samples), "method": method, "seed": int(seed),
            "threads": int(threads) or None}
