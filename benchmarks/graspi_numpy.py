"""A straightforward NumPy/SciPy implementation of the GraSPI descriptor definitions.

It is the CPU baseline of ``benchmarks/descriptors.py`` and an independent oracle for the tests:
components by ``scipy.ndimage.label`` (periodic sides merged through a wrapped pad), interface
distances by a plain Bellman-Ford over the 26 explicit neighbour offsets, tortuosity by the
layer sweep over the 9 explicit lateral shifts. :func:`graph_distances` gives exact shortest paths
with Dijkstra (``scipy.sparse.csgraph``) for small volumes, to check the sweep and the bounded
relaxation themselves. One volume ``(X, Y, Z)`` at a time (2-D ``(X, Y)`` viewed as ``(X, 1, Y)``);
labels 0 donor, 1 acceptor, 2 mixed; last axis = thickness.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import ndimage

OFFSETS = [o for o in itertools.product((-1, 0, 1), repeat=3) if o != (0, 0, 0)]


def _length(o: tuple[int, int, int]) -> np.float32:
    return np.float32(math.sqrt(sum(abs(c) for c in o)))


def _shift(a: np.ndarray, o: tuple[int, int, int], fill, wrap: tuple[bool, bool]) -> np.ndarray:
    """``out[v] = a[v + o]``, ``fill`` outside (x, y wrap when asked; size-1 axes never wrap)."""
    out = a
    for ax, c in enumerate(o):
        if c == 0:
            continue
        n = a.shape[ax]
        if ax < 2 and wrap[ax] and n > 1:
            out = np.roll(out, -c, axis=ax)
            continue
        rolled = np.roll(out, -c, axis=ax)
        sl = [slice(None)] * 3
        sl[ax] = slice(n - 1, n) if c > 0 else slice(0, 1)
        rolled[tuple(sl)] = fill
        if n == 1:
            rolled[...] = fill
        out = rolled
    return out


def components(member: np.ndarray, wrap: tuple[bool, bool]) -> tuple[np.ndarray, int]:
    """26-connected components of a bool mask, merged across wrapped sides."""
    pad = [(1, 1) if (w and member.shape[i] > 1) else (0, 0) for i, w in enumerate(wrap)] + [(0, 0)]
    padded = np.pad(member, pad, mode="wrap")
    lab, n = ndimage.label(padded, structure=np.ones((3, 3, 3), bool))
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    inner = tuple(slice(p[0], p[0] + s) for p, s in zip(pad, member.shape))
    core = lab[inner]
    # ghost cells are copies of interior voxels: union their labels with the interior label
    for ax in range(2):
        if pad[ax] == (0, 0):
            continue
        n_ax = member.shape[ax]
        for ghost, src in ((0, n_ax), (n_ax + 1, 1)):
            sl_g = [slice(None)] * 3
            sl_s = [slice(None)] * 3
            sl_g[ax], sl_s[ax] = ghost, src
            g, s = lab[tuple(sl_g)], lab[tuple(sl_s)]
            # align the other padded axis: both are full padded slices, compare same positions
            pairs = np.unique(np.stack([g.ravel(), s.ravel()], 1), axis=0)
            for a, b in pairs:
                if a and b:
                    ra, rb = find(a), find(b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n + 1)])
    out = roots[core]
    count = len(np.unique(out[member]))
    return out, count


def interface_distance(donor: np.ndarray, acceptor: np.ndarray, wrap, rounds: int = 10) -> np.ndarray:
    inf = np.float32(np.inf)
    start = np.full(donor.shape, inf, np.float32)
    for o in OFFSETS:
        nb = _shift(acceptor, o, False, wrap)
        start = np.where(donor & nb, np.minimum(start, _length(o) / np.float32(2)), start)
    d = start
    for _ in range(rounds):
        nd = d.copy()
        for o in OFFSETS:
            nd = np.minimum(nd, _shift(d, o, inf, wrap) + _length(o))
        nd = np.where(donor, nd, inf).astype(np.float32)
        if np.array_equal(nd, d):
            break
        d = nd
    return d


def straight_counts(member: np.ndarray, wrap) -> int:
    """Voxels with a straight rising path to the top layer (the layer sweep)."""
    nz = member.shape[2]
    inf = np.float32(np.inf)
    e = np.where(member[:, :, nz - 1], np.float32(0), inf)
    count = int(member[:, :, nz - 1].sum())
    for k in range(nz - 2, -1, -1):
        best = np.full_like(e, inf)
        for dx, dy in itertools.product((-1, 0, 1), repeat=2):
            cost = np.float32(math.sqrt(1 + abs(dx) + abs(dy)) - 1)
            best = np.minimum(best, _shift(e[:, :, None], (dx, dy, 0), inf, wrap)[:, :, 0] + cost)
        e = np.where(member[:, :, k], best, inf)
        count += int((e < np.float32((nz - 1 - k) / nz)).sum())
    return count


def _face_pairs(a: np.ndarray, b: np.ndarray, wrap) -> int:
    total = 0
    for o in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
        ax = o.index(1)
        if a.shape[ax] < 2:
            continue
        a2, b2 = _shift(a, o, False, wrap), _shift(b, o, False, wrap)
        total += int(((a & b2) | (b & a2)).sum())
    return total


def _frac(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _as_3d(volume: np.ndarray, periodic: bool) -> tuple[np.ndarray, tuple[bool, bool]]:
    """A 2-D ``(X, Z)`` volume as ``(X, 1, Z)``, and the in-plane wrap flags ``(x, y)``."""
    v = np.asarray(volume)
    if v.ndim == 2:
        return v[:, None, :], (periodic, False)
    return v, (periodic, periodic)


def describe(volume: np.ndarray, periodic: bool = False) -> dict[str, float]:
    """Same names and conventions as ``objectives.describe`` (two- and three-phase)."""
    v, wrap = _as_3d(volume, periodic)
    nz = v.shape[2]
    n = v.size
    donor, acceptor = v == 0, v == 1
    cd, ncd = components(donor, wrap)
    ca, nca = components(acceptor, wrap)
    top_d = np.setdiff1d(np.unique(cd[:, :, nz - 1][donor[:, :, nz - 1]]), [0])
    bot_a = np.setdiff1d(np.unique(ca[:, :, 0][acceptor[:, :, 0]]), [0])
    d_top = donor & np.isin(cd, top_d)
    a_bot = acceptor & np.isin(ca, bot_a)
    t_d = straight_counts(donor, wrap)
    t_a = straight_counts(acceptor[:, :, ::-1], wrap)
    if (v == 2).any():
        return {
            "vol_frac_D": donor.sum() / n, "vol_frac_A": acceptor.sum() / n,
            "vol_frac_M": (v == 2).sum() / n,
            "tortuosity_D": _frac(t_d, d_top.sum()), "tortuosity_A": _frac(t_a, a_bot.sum()),
        }
    stat_e = _face_pairs(donor, acceptor, wrap)
    e_conn = _face_pairs(d_top, a_bot, wrap)
    d = interface_distance(donor, acceptor, wrap)
    diss = donor & (d > 0) & (d < 10)
    wdiss = (6.265 * np.exp(-(((d[diss].astype(np.float64) + 23) / 17.17) ** 2))).sum()
    nbr_a = np.zeros_like(donor)
    nbr_d = np.zeros_like(donor)
    for o in OFFSETS:
        nbr_a |= _shift(acceptor, o, False, wrap)
        nbr_d |= _shift(donor, o, False, wrap)
    k = np.arange(nz)
    n_d, n_a = int(donor.sum()), int(acceptor.sum())
    return {
        "STAT_n": float(n), "STAT_e": float(stat_e), "STAT_n_D": float(n_d), "STAT_n_A": float(n_a),
        "STAT_CC_D": float(ncd), "STAT_CC_A": float(nca),
        "STAT_CC_D_An": float(len(top_d)), "STAT_CC_A_Ca": float(len(bot_a)),
        "ABS_wf_D": float((donor * np.exp(-(nz - k) / 100.0)).sum() / n),
        "ABS_f_D": n_d / n,
        "DISS_wf10_D": _frac(wdiss, n_d), "DISS_f10_D": _frac(diss.sum(), n_d),
        "CT_f_e_conn": _frac(e_conn, stat_e),
        "CT_f_conn_D_An": _frac(d_top.sum(), n_d), "CT_f_conn_A_Ca": _frac(a_bot.sum(), n_a),
        "CT_e_conn": float(e_conn),
        "CT_e_D_An": float((d_top & nbr_a).sum()), "CT_e_A_Ca": float((a_bot & nbr_d).sum()),
        "CT_f_D_tort1": _frac(t_d, d_top.sum()), "CT_f_A_tort1": _frac(t_a, a_bot.sum()),
        "CT_n_D_adj_An": float(donor[:, :, nz - 1].sum() + 1),
        "CT_n_A_adj_Ca": float(acceptor[:, :, 0].sum() + 1),
    }


def graph_distances(volume: np.ndarray, periodic: bool = False) -> dict[str, np.ndarray]:
    """Exact Dijkstra distances on the voxel graph (small volumes only; test oracle).

    Returns ``d_top`` (donor voxels to the top layer through donor voxels), ``a_bot`` (acceptor
    voxels to the bottom layer) and ``d_int`` (donor interface distance), float64, inf if unreachable.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    v, wrap = _as_3d(volume, periodic)
    shape = v.shape
    n = v.size
    idx = np.arange(n).reshape(shape)
    big = np.full((n + 3, n + 3), np.inf)
    start = np.full(n, np.inf)
    for o in OFFSETS:
        length = math.sqrt(sum(map(abs, o)))
        nb_idx = _shift(idx, o, -1, wrap)
        nb_lab = _shift(v, o, 255, wrap)
        ok = (nb_idx >= 0) & (nb_lab == v)
        np.minimum.at(big, (idx[ok], nb_idx[ok]), length)
        touch = (nb_idx >= 0) & (v == 0) & (nb_lab == 1)
        np.minimum.at(start, idx[touch], length / 2)
    # node n: top electrode, n+1: bottom electrode, n+2: interface source
    top = idx[:, :, -1][v[:, :, -1] == 0]
    bot = idx[:, :, 0][v[:, :, 0] == 1]
    big[n, top] = 1e-300  # zero-length edges (0 would mean "no edge")
    big[n + 1, bot] = 1e-300
    big[n + 2, :n] = start
    g = csr_matrix(np.where(np.isfinite(big), big, 0.0))
    dist = dijkstra(g, directed=True, indices=[n, n + 1, n + 2])
    # the interface source's edges lead only into donor voxels, but the graph also holds acceptor
    # edges: they are unreachable from donor voxels (no donor-acceptor edges), so it is exact.
    return {
        "d_top": dist[0, :n].reshape(shape), "a_bot": dist[1, :n].reshape(shape),
        "d_int": dist[2, :n].reshape(shape),
    }
