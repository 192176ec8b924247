"""The two views of HDF5 shards agree: in-memory ``load_shards`` and the lazy ``H5VolumeDataset``."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from generators.datasets import H5VolumeDataset
from generators.diffusion.data import load_shards
from objectives.io import write_h5_samples


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(1)
    vols = rng.integers(0, 3, size=(5, 6, 6, 4), dtype=np.uint8)
    attrs = [{"phi": 0.1 * i, "chi": 2.0 + i, "note": "text"} for i in range(5)]
    write_h5_samples(tmp_path / "part_0.h5", vols[:2], attrs[:2], mode="w")
    write_h5_samples(tmp_path / "part_1.h5", vols[2:], attrs[2:], mode="w")
    return tmp_path, vols, attrs


def test_load_shards_matches_the_torch_dataset(shards):
    root, vols, attrs = shards
    mem = load_shards(root)
    lazy = H5VolumeDataset(root, ["phi", "chi"])
    assert len(mem) == len(lazy) == 5 and sorted(mem.labels) == ["chi", "phi"]  # text attrs dropped
    for i in range(5):
        v, lab = lazy[i]
        assert np.array_equal(mem.volumes[i].numpy(), v[0].numpy().astype(np.uint8))
        assert np.array_equal(mem.volumes[i].numpy(), vols[i])
        assert mem.table(["phi", "chi"])[i] == pytest.approx(lab.tolist())


def test_load_shards_limit_globs_lists_and_paper_floats(shards, tmp_path):
    root, vols, _ = shards
    assert len(load_shards(root, limit=3)) == 3
    assert np.array_equal(load_shards(root, limit=3).volumes.numpy(), vols[:3])
    assert len(load_shards(str(root / "part_1*.h5"))) == 3
    assert len(load_shards([root / "part_1.h5", root / "part_0.h5"])) == 5
    paper = tmp_path / "paper" / "data.hdf5"
    paper.parent.mkdir()
    with h5py.File(paper, "w") as fh:  # MicroGen3D's own files: (1, X, Y, Z) float datasets
        fh.create_dataset("000", data=vols[0][None].astype(np.float32)).attrs["ABS_f_D"] = 0.5
    one = load_shards(paper.parent)
    assert one.volumes.dtype.is_floating_point is False and np.array_equal(one.volumes[0].numpy(), vols[0])
    assert one.labels["ABS_f_D"].tolist() == [0.5]
    with pytest.raises(ValueError, match="no HDF5 shards"):
        load_shards(tmp_path / "nothing")
    with pytest.raises(ValueError, match="limit"):
        load_shards(root, limit=0)
