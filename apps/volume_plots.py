"""Plotly views of one label volume: a downsampled 3-D isosurface view and axis slices.

Phase colours are fixed across the app: donor (0) blue, acceptor (1) red, mixed (2) grey.
Axes: ``volume[x, y, z]``, z (the last axis) is the film thickness.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PHASES = {0: ("donor", "#1f4fd1"), 1: ("acceptor", "#d62728"), 2: ("mixed", "#9a9a9a")}
AXES = ("x", "y", "z")


def _check(volume: np.ndarray) -> np.ndarray:
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ValueError(f"expected a 3-D label volume (X, Y, Z), got shape {vol.shape}")
    if vol.size and (vol.min() < 0 or vol.max() > 2):
        raise ValueError(f"labels must be 0, 1 or 2 (found {int(vol.min())}..{int(vol.max())})")
    return vol


def block_fractions(volume: np.ndarray, label: int, max_side: int = 32) -> np.ndarray:
    """Fraction of ``label`` in blocks of ``f**3`` voxels, ``f`` chosen so no side exceeds ``max_side``.

    Trailing voxels that do not fill a block are dropped.
    """
    vol = _check(volume)
    f = max(1, int(np.ceil(max(vol.shape) / max_side)))
    sx, sy, sz = (s // f for s in vol.shape)
    if min(sx, sy, sz) == 0:
        f, (sx, sy, sz) = 1, vol.shape
    ind = (vol[: sx * f, : sy * f, : sz * f] == label).astype(np.float32)
    return ind.reshape(sx, f, sy, f, sz, f).mean(axis=(1, 3, 5))


def volume_figure(volume: np.ndarray, max_side: int = 32, phases=(1, 2)) -> go.Figure:
    """Isosurfaces (at half occupancy) of the given phases of a downsampled volume."""
    vol = _check(volume)
    fig = go.Figure()
    for label in phases:
        frac = block_fractions(vol, label, max_side)
        if frac.max() < 0.5:
            continue
        x, y, z = np.meshgrid(*(np.arange(s) for s in frac.shape), indexing="ij")
        name, colour = PHASES[label]
        fig.add_isosurface(x=x.ravel(), y=y.ravel(), z=z.ravel(), value=frac.ravel(),
                           isomin=0.5, isomax=1.0, surface_count=1, name=name, showscale=False,
                           colorscale=[[0, colour], [1, colour]], opacity=0.8 if label == 1 else 0.5,
                           caps={"x_show": True, "y_show": True, "z_show": True}, showlegend=True)
    fig.update_layout(scene={"aspectmode": "data", "zaxis_title": "z (thickness)"}, height=480,
                      margin={"t": 10, "b": 10, "l": 0, "r": 0})
    return fig


def slice_figure(volume: np.ndarray, axis: str, index: int) -> go.Figure:
    """Slice ``index`` normal to ``axis`` (``"x"``, ``"y"`` or ``"z"``) with the phase colours."""
    vol = _check(volume)
    if axis not in AXES:
        raise ValueError(f"axis must be one of x, y, z (got {axis!r})")
    a = AXES.index(axis)
    if not 0 <= index < vol.shape[a]:
        raise ValueError(f"slice {index} is outside 0..{vol.shape[a] - 1} along {axis}")
    plane = np.take(vol, index, axis=a)
    rest = [n for n in AXES if n != axis]
    scale = [[0.0, PHASES[0][1]], [1 / 3, PHASES[0][1]], [1 / 3, PHASES[1][1]],
             [2 / 3, PHASES[1][1]], [2 / 3, PHASES[2][1]], [1.0, PHASES[2][1]]]
    fig = go.Figure(go.Heatmap(z=plane.T, zmin=-0.5, zmax=2.5, colorscale=scale,
                               colorbar={"tickvals": [0, 1, 2],
                                         "ticktext": [PHASES[k][0] for k in range(3)]}))
    fig.update_layout(xaxis_title=rest[0], yaxis_title=rest[1], height=380,
                      margin={"t": 10, "b": 40})
    fig.update_xaxes(range=[-0.5, plane.shape[0] - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, plane.shape[1] - 0.5], scaleanchor="x", constrain="domain")
    return fig
