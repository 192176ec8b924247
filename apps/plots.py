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


def pathway_figure(chi: Sequence[float], log_time: Sequence[float], distance: np.ndarray, phi: float,
                   recipes: pd.DataFrame | None = None) -> go.Figure:
    """The pathway map at blend ratio ``phi``: predicted distance to the targets (tolerance units)
    over chi and annealing time as filled contours (the line at 1 bounds the recipes predicted to
    meet every target), and recipes as points.

    Parameters
    ----------
    chi, log_time : the axes ``(a,)``, ``(b,)``
    distance : ndarray ``(b, a)``
    recipes : DataFrame, optional
        Columns ``chi``, ``log_time``, ``phi`` and, when verified, ``verified_distance`` (NaN when
        not verified); verified recipes are filled circles coloured by verified distance, the
        others open circles.
    """
    z = np.asarray(distance, dtype=float)
    if z.shape != (len(log_time), len(chi)):
        raise ValueError(f"distance must be (len(log_time), len(chi)) = ({len(log_time)}, {len(chi)}), got {z.shape}")
    top = float(np.clip(np.nanmax(z), 2.0, 10.0))
    fig = go.Figure()
    fig.add_contour(x=list(chi), y=list(log_time), z=np.minimum(z, top), name="predicted distance",
                    colorscale="Viridis_r", contours={"start": 0.0, "end": top, "size": top / 10},
                    colorbar={"title": "predicted<br>distance", "x": 1.02}, opacity=0.85,
                    hovertemplate="chi %{x:.3f}<br>log10 t %{y:.3f}<br>distance %{z:.2f}<extra></extra>")
    fig.add_contour(x=list(chi), y=list(log_time), z=z, showscale=False, name="within tolerance",
                    contours={"start": 1.0, "end": 1.0, "size": 1.0, "coloring": "none",
                              "showlabels": True}, line={"width": 3, "color": "white"}, hoverinfo="skip")
    if recipes is not None and len(recipes):
        v = recipes.get("verified_distance", pd.Series(np.nan, index=recipes.index))
        done = recipes[v.notna()]
        todo = recipes[v.isna()]
        if len(todo):
            fig.add_scatter(x=todo["chi"], y=todo["log_time"], mode="markers", name="predicted recipes",
                            marker={"symbol": "circle-open", "size": 11, "color": "white",
                                    "line": {"width": 2}},
                            customdata=todo[["phi"]].to_numpy(),
                            hovertemplate="phi %{customdata[0]:.3f}<br>chi %{x:.3f}<br>log10 t %{y:.3f}<extra></extra>")
        if len(done):
            fig.add_scatter(x=done["chi"], y=done["log_time"], mode="markers", name="verified recipes",
                            marker={"size": 13, "color": done["verified_distance"], "colorscale": "RdYlGn_r",
                                    "cmin": 0, "cmax": 2, "line": {"width": 1, "color": "black"},
                                    "colorbar": {"title": "verified<br>distance", "x": 1.18}},
                            customdata=done[["phi", "verified_distance"]].to_numpy(),
                            hovertemplate="phi %{customdata[0]:.3f}<br>chi %{x:.3f}<br>log10 t %{y:.3f}"
                                          "<br>verified distance %{customdata[1]:.2f}<extra></extra>")
    fig.update_layout(title=f"Recipes at phi = {phi:.3f}", xaxis_title="chi (interaction parameter)",
                      yaxis_title="log10 annealing time", height=460, margin={"t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.2})
    return fig
