"""Sidebar section: choose and load a model, show its conditions, ranges and training summary."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from apps import models

DIRECTORY = "weights directory..."


def model_section(extra: Mapping[str, models.Factory] | None = None) -> dict | None:
    """Draw the model chooser; returns the loaded model's summary (or ``None`` until one loads)."""
    st.header("Model")
    options = [*(extra or {}), *models.shipped_names(), DIRECTORY]
    choice = st.selectbox("Model", options, key="model_choice")
    spec, pack = choice, None
    if choice == DIRECTORY:
        spec = st.text_input("Directory (model dir or MicroGen3D vae/fp/ddpm .pt files)",
                             key="model_dir")
        pack = st.selectbox("MicroGen3D pack (for .pt files)", ["", *models.PACKS], key="model_pack")
    device = st.text_input("Device", value="cpu", key="device")
    if st.button("Load model", key="load_model"):
        try:
            gen = models.load_model(spec, device=device, pack=pack or None, extra=extra)
            st.session_state.generator = gen
            st.session_state.model_summary = models.describe_model(gen)
            st.session_state.model_name = spec
            st.session_state.pop("result", None)
        except ValueError as exc:
            st.session_state.pop("generator", None)
            st.session_state.pop("model_summary", None)
            st.error(str(exc))
    summary = st.session_state.get("model_summary")
    if summary is not None:
        _show(summary)
    return summary


def _show(summary: dict) -> None:
    st.caption(f"{st.session_state.get('model_name', '')}: {summary['phases']} phases, "
               f"volume {'x'.join(map(str, summary['shape']))}")
    ranges = pd.DataFrame([{"condition": n, "low": lo, "high": hi}
                           for n, (lo, hi) in summary["conditions"].items()])
    st.dataframe(ranges, hide_index=True, key="model_ranges")
    if summary["training"]:
        with st.expander("Training summary"):
            st.json(summary["training"])
