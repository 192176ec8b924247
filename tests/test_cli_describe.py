"""`invdesign describe` and `invdesign convert` through typer's CliRunner.

The descriptor engine is someone else's module: these tests swap in a tiny stand-in for
``objectives.describe`` / ``objectives.as_label_tensor`` so they test this CLI (arguments, file
reading, JSON output, errors), not the descriptors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import objectives
import objectives.io as vio
from invdesign.cli.main import app

VOL = (np.arange(6 * 5 * 4).reshape(6, 5, 4) % 3).astype(np.uint8)
CALLS: list[dict] = []


def _as_label_tensor(volume, device=None):
    return torch.as_tensor(np.asarray(volume), dtype=torch.long, device=device)


def _describe(volume, periodic=False):
    CALLS.append({"periodic": periodic, "device": str(volume.device), "shape": tuple(volume.shape)})
    v = volume.cpu().numpy()
    return {
        "vol_frac_D": float((v == 0).mean()),
        "first": torch.tensor(float(v.flat[0])),  # 0-d tensors are fine too
        "STAT_n": float(v.size),
        "undefined": float("nan"),
    }


@pytest.fixture(autouse=True)
def stand_in(monkeypatch):
    CALLS.clear()
    # rich wraps stderr at the console width (80 without a terminal); tmp paths are long
    monkeypatch.setenv("COLUMNS", "2000")
    monkeypatch.setattr(objectives, "describe", _describe, raising=False)
    monkeypatch.setattr(objectives, "as_label_tensor", _as_label_tensor, raising=False)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def expected(vol: np.ndarray) -> dict:
    return {"vol_frac_D": float((vol == 0).mean()), "first": float(vol.flat[0]),
            "STAT_n": float(vol.size), "undefined": None}


def _assert_one_line_error(result, *needles: str):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("ext", [".npy", ".npz", ".h5", ".vti", ".tif", ".txt"])
def test_describe_json_is_one_object(tmp_path, ext):
    path = tmp_path / f"v{ext}"
    vio.write_volume(path, VOL)
    result = run("describe", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected(VOL)  # exactly one JSON document on stdout
    assert CALLS == [{"periodic": False, "device": "cpu", "shape": VOL.shape}]


def test_describe_periodic_and_index(tmp_path):
    path = tmp_path / "shard.h5"
    vols = np.stack([VOL, 1 - (VOL == 1), VOL[::-1]]).astype(np.uint8)
    vio.write_h5_samples(path, vols)
    for index in range(3):
        result = run("describe", str(path), "--json", "--index", str(index), "--periodic")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == expected(vols[index])
    assert [c["periodic"] for c in CALLS] == [True] * 3
    result = run("describe", str(path), "--json", "--index", "sample_0000001")
    assert json.loads(result.stdout) == expected(vols[1])


def test_describe_table_for_humans(tmp_path):
    vio.write_volume(tmp_path / "v.npy", VOL)
    result = run("describe", str(tmp_path / "v.npy"))
    assert result.exit_code == 0, result.output
    assert "vol_frac_D" in result.stdout and "STAT_n" in result.stdout and "120" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_describe_cuda_without_cuda(tmp_path):
    vio.write_volume(tmp_path / "v.npy", VOL)
    _assert_one_line_error(run("describe", str(tmp_path / "v.npy"), "--device", "cuda"), "CUDA")
    assert CALLS == []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_describe_on_cuda(tmp_path):
    vio.write_volume(tmp_path / "v.npy", VOL)
    result = run("describe", str(tmp_path / "v.npy"), "--device", "cuda", "--json")
    assert result.exit_code == 0 and CALLS[0]["device"].startswith("cuda")


def test_describe_errors(tmp_path):
    _assert_one_line_error(run("describe", str(tmp_path / "nope.npy")), "nope.npy", "no such file")
    (tmp_path / "a.png").write_bytes(b"x")
    _assert_one_line_error(run("describe", str(tmp_path / "a.png")), "unknown volume file extension")
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    _assert_one_line_error(run("describe", str(tmp_path / "junk.h5")), "junk.h5", "HDF5")
    np.save(tmp_path / "bad.npy", np.full((3, 3, 3), 4))
    _assert_one_line_error(run("describe", str(tmp_path / "bad.npy")), "bad.npy", "found 4")
    vio.write_volume(tmp_path / "v.h5", VOL)
    _assert_one_line_error(run("describe", str(tmp_path / "v.h5"), "--index", "5"), "out of range")
    vio.write_volume(tmp_path / "v.npy", VOL)
    _assert_one_line_error(run("describe", str(tmp_path / "v.npy"), "--device", "tpu9"), "--device")
    assert CALLS == []


@pytest.mark.parametrize("dst_ext", [".npy", ".npz", ".h5", ".vti", ".tif", ".txt"])
def test_convert_keeps_labels_exactly(tmp_path, dst_ext):
    src = tmp_path / "src.h5"
    vols = np.stack([VOL, VOL[::-1]])
    vio.write_h5_samples(src, vols, [{"ABS_f_D": 0.25, "tag": "a"}, {"ABS_f_D": 0.75, "tag": "b"}])
    dst = tmp_path / f"dst{dst_ext}"
    result = run("convert", str(src), str(dst), "--index", "1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    np.testing.assert_array_equal(vio.read_volume(dst), vols[1])
    assert summary["shape"] == [6, 5, 4] and summary["index"] == 1
    counts = np.bincount(VOL.ravel(), minlength=3)
    assert summary["voxels"] == {"donor": int(counts[0]), "acceptor": int(counts[1]), "mixed": int(counts[2])}
    kept = {".npz": ["ABS_f_D", "tag"], ".h5": ["ABS_f_D", "tag"], ".vti": ["ABS_f_D"]}.get(dst_ext, [])
    assert summary["attrs_written"] == kept
    assert sorted(summary["attrs_written"] + summary["attrs_dropped"]) == ["ABS_f_D", "tag"]
    if kept:
        assert vio.read_sample(dst)[1]["ABS_f_D"] == 0.75


def test_convert_chain_through_every_format(tmp_path):
    current = tmp_path / "start.npy"
    vio.write_volume(current, VOL)
    for i, ext in enumerate([".txt", ".vti", ".tif", ".h5", ".npz", ".npy"]):
        nxt = tmp_path / f"step{i}{ext}"
        result = run("convert", str(current), str(nxt))
        assert result.exit_code == 0, result.output
        assert f"wrote {nxt}" in result.stdout
        current = nxt
    np.testing.assert_array_equal(vio.read_volume(current), VOL)
    tokens = (tmp_path / "step0.txt").read_text().split()[3:]
    assert tokens.count("3") == (VOL == 2).sum() and "2" not in tokens  # GraSPI's mixed phase


def test_convert_errors(tmp_path):
    vio.write_volume(tmp_path / "a.npy", VOL)
    vio.write_volume(tmp_path / "b.vti", VOL)
    _assert_one_line_error(run("convert", str(tmp_path / "a.npy"), str(tmp_path / "b.vti")), "already exists")
    result = run("convert", str(tmp_path / "a.npy"), str(tmp_path / "b.vti"), "--overwrite")
    assert result.exit_code == 0
    _assert_one_line_error(run("convert", str(tmp_path / "a.npy"), str(tmp_path / "a.npy")), "same file")
    _assert_one_line_error(run("convert", str(tmp_path / "a.npy"), str(tmp_path / "c.xyz")), "unknown volume file extension")
    _assert_one_line_error(run("convert", str(tmp_path / "zz.npy"), str(tmp_path / "c.vti")), "no such file")
    _assert_one_line_error(run("convert", str(tmp_path / "a.npy"), str(tmp_path / "c.vti"), "--vti-encoding", "zip"), "encoding")
    _assert_one_line_error(run("convert", str(tmp_path / "a.npy"), str(tmp_path / "c.txt"), "--index", "1"), "index must be 0")
    assert not (tmp_path / "c.vti").exists() and not (tmp_path / "c.txt").exists()
