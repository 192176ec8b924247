"""The Streamlit dashboard: ``streamlit run apps/dashboard.py`` (or ``invdesign dashboard``).

Choose a model, set targets, run or resume a design (live progress, stoppable), watch a study,
browse candidates in 3-D and in slices, download them and verify their recipes. Every step calls
the ``invdesign`` API; the page holds no design logic of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

if __package__ in (None, "") and "apps" not in sys.modules:  # run as a script by streamlit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from apps.models import Factory  # noqa: E402
from apps.views.model import model_section  # noqa: E402
from apps.views.results import results_section  # noqa: E402
from apps.views.run import run_section, watch_section  # noqa: E402
from apps.views.targets import targets_section  # noqa: E402


def main(extra_models: Mapping[str, Factory] | None = None) -> None:
    """Draw the page.

    Parameters
    ----------
    extra_models : mapping of name -> factory(device) -> Generator, optional
        Generators offered in the model chooser besides the shipped names and weight directories
        (e.g. a small model for a demo or a test).
    """
    st.set_page_config(page_title="invdesign", layout="wide")
    st.title("invdesign: inverse design of microstructures")
    with st.sidebar:
        summary = model_section(extra_models)
        settings = targets_section(summary) if summary is not None else None
    if summary is None:
        st.info("Load a model in the sidebar to start.")
    else:
        run_section(settings)
    watch_section()
    result = st.session_state.get("result")
    if result is not None:
        results_section(result, _targets_of(result, st.session_state.get("run_settings")))


def _targets_of(result, fallback: dict | None) -> dict:
    """Targets, tolerances and condition names of a result (from its study's settings if stored)."""
    stored = getattr(result, "settings", None)
    if stored is not None and getattr(stored, "targets", None):
        return {"targets": dict(stored.targets), "tolerance": dict(stored.tolerances),
                "condition_names": list(getattr(stored, "condition_names", []))}
    fallback = dict(fallback or {"targets": {}, "tolerance": {}})
    summary = st.session_state.get("model_summary") or {"conditions": {}}
    fallback.setdefault("condition_names", list(summary["conditions"]))
    return fallback


if __name__ == "__main__":
    main()
