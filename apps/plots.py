"""Plotly figures of an optimisation: best distance per trial, measured vs target, where trials went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    return fig


def measured_figure(frame: pd.DataFrame, targets: Mapping[str, float],
                    tolerance: Mapping[str, float]) -> go.Figure:
    """Measured descriptors of every candidate against the targets, with tolerance bands."""
    names = [n for n in targets if n in frame.columns]
    fig = go.Figure()
    for i, name in enumerate(names):
        fig.add_box(y=frame[name], name=name, boxpoints="all", jitter=0.4, marker_color="#888",
                    showlegend=False)
        t, tol = float(targets[name]), float(tolerance.get(name, 0.0))
        fig.add_shape(type="rect", xref="x", x0=i - 0.45, x1=i + 0.45, y0=t - tol, y1=t + tol,
                      fillcolor="rgba(44,160,44,0.2)", line_width=0)
        fig.add_scatter(x=[name], y=[t], mode="markers", marker={"symbol": "x", "size": 14,
                        "color": "#2ca02c"}, name="target", showlegend=i == 0)
    fig.update_layout(yaxis_title="value", height=360, margin={"t": 30, "b": 40})
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
    fig.update_layout(height=420, margin={"t": 30, "b": 40})
    return fig


def recipe_figure(frame: pd.DataFrame, color: str = "distance") -> go.Figure:
    """Predicted recipes over the chi - annealing-time plane (size: phi), coloured by distance."""
    if not {"chi", "log_time"} <= set(frame.columns):
        raise ValueError("the candidates carry no predicted recipe (chi, log_time)")
    fig = px.scatter(frame, x="chi", y="log_time", color=color if color in frame.columns else None,
                     hover_data=[c for c in ("trial", "phi") if c in frame.columns])
    fig.update_layout(xaxis_title="chi (interaction parameter)",
                      yaxis_title="log10 annealing time", height=380, margin={"t": 30, "b": 40})
    return fig
