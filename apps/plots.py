"""Plotly figures of an optimisation: best distance per trial, measured vs target, where trials went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go


def distance_figure(frame: pd.DataFrame, trial: str = "trial", value: str = "distance") -> go.Figure:
    """Distance to target of every candidate (dots) and the best so far (line) against trial.

    A distance <= 1 means every target is met within its tolerance (dashed line).
    """
    data = frame[[trial, value]].dropna().sort_values(trial)
    per_trial = data.groupby(trial)[value].min()
    fig = go.Figure()
    fig.add_scatter(x=data[trial], y=data[value], mode="markers", name="candidates",
                    marker={"size": 6, "opacity": 0.5, "color": "#888"})
    fig.add_scatter(x=per_trial.index, y=per_trial.cummin().values, mode="lines+markers",
                    name="best so far", line={"shape": "hv", "color": "#1f77b4"})
    fig.add_hline(y=1.0, line_dash="dash", annotation_text="within tolerance")
    fig.update_layout(xaxis_title="trial", yaxis_title="distance to target (tolerances)",
                      height=360, margin={"t": 30, "b": 40})
    if len(per_trial) <= 20:
        fig.update_xaxes(dtick=1)
    return fig


def measured_figure(frame: pd.DataFrame, targets: Mapping[str, float],
                    tolerance: Mapping[str, float]) -> go.Figure:
    """Measured descriptors of every candidate (jittered dots) against the targets (+- tolerance)."""
    names = [n for n in targets if n in frame.columns]
    rng = np.random.default_rng(0)
    fig = go.Figure()
    for i, name in enumerate(names):
        y = frame[name].to_numpy(dtype=float)
        fig.add_scatter(x=i + rng.uniform(-0.25, 0.25, len(y)), y=y, mode="markers",
                        marker={"color": "#777", "size": 6, "opacity": 0.6}, name="measured",
                        showlegend=i == 0)
        fig.add_scatter(x=[i], y=[float(targets[name])], mode="markers", name="target +- tolerance",
                        marker={"symbol": "x", "size": 14, "color": "#2ca02c"}, showlegend=i == 0,
                        error_y={"type": "constant", "value": float(tolerance.get(name, 0.0)),
                                 "width": 30, "color": "#2ca02c"})
    fig.update_layout(yaxis_title="value", height=360, margin={"t": 30, "b": 40},
                      xaxis={"tickvals": list(range(len(names))), "ticktext": names,
                             "range": [-0.6, len(names) - 0.4]})
    return fig


def condition_figure(frame: pd.DataFrame, names: Sequence[str], color: str = "distance") -> go.Figure:
    """Where in the condition space the trials went, coloured by distance (scatter matrix if d > 2)."""
    names = [n for n in names if n in frame.columns]
    if not names:
        raise ValueError("the table has no condition columns to plot")
    colour = color if color in frame.columns else None
    if len(names) == 1:
        fig = px.scatter(frame, x=names[0], y=colour or names[0], color=colour)
    elif len(names) == 2:
        fig = px.scatter(frame, x=names[0], y=names[1], color=colour, hover_data=["trial"]
                         if "trial" in frame.columns else None)
    else:
        fig = px.scatter_matrix(frame, dimensions=names, color=colour)
    fig.update_layout(height=420, margin={"t": 30, "b": 40}, coloraxis_colorscale="Viridis")
    return fig


def recipe_figure(frame: pd.DataFrame, color: str = "distance") -> go.Figure:
    """Predicted recipes over the chi - annealing-time plane (size: phi), coloured by distance."""
    if not {"chi", "log_time"} <= set(frame.columns):
        raise ValueError("the candidates carry no predicted recipe (chi, log_time)")
    fig = px.scatter(frame, x="chi", y="log_time", color=color if color in frame.columns else None,
                     color_continuous_scale="Viridis",
                     hover_data=[c for c in ("trial", "phi") if c in frame.columns])
    fig.update_layout(xaxis_title="chi (interaction parameter)",
                      yaxis_title="log10 annealing time", height=380, margin={"t": 30, "b": 40})
    return fig
