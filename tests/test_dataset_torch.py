"""H5VolumeDataset over MicroGen3D-layout shards (the io writer's and a hand-made paper-style file)."""

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from generators.datasets import H5VolumeDataset, shard_paths
from objectives.io import write_h5_samples


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(0)
    vols = rng.integers(0, 3, size=(5, 8, 6, 4), dtype=np.uint8)
    attrs = [{"phi": 0.1 * i, "chi": 3.0 + i, "vol_frac_M": float((v == 2).mean())} for i, v in enumerate(vols)]
    write_h5_samples(tmp_path / "part_0.h5", vols[:3], attrs[:3], mode="w")
    write_h5_samples(tmp_path / "part_1.h5", vols[3:], attrs[3:], mode="w")
    return tmp_path, vols, attrs


def test_items_are_volumes_and_label_vectors_in_shard_order(shards):
    root, vols, attrs = shards
    ds = H5VolumeDataset(root, ["chi", "vol_frac_M"])
    assert len(ds) == 5 and ds.shape == (8, 6, 4)
    for i in range(5):
        v, lab = ds[i]
        assert v.shape == (1, 8, 6, 4) and v.dtype == torch.float32
        assert np.array_equal(v[0].numpy().astype(np.uint8), vols[i])
        assert lab.tolist() == pytest.approx([attrs[i]["chi"], attrs[i]["vol_frac_M"]])
    assert ds.sample_name(4)[0].endswith("part_1.h5")
    with pytest.raises(IndexError):
        ds[5]


def test_globs_lists_and_paper_style_channel_axis(shards, tmp_path):
    root, vols, _ = shards
    paper = tmp_path / "paper.hdf5"
    with h5py.File(paper, "w") as fh:  # MicroGen3D's own files: (1, X, Y, Z) float datasets
        ds = fh.create_dataset("000_sample", data=vols[0][None].astype(np.float32))
        ds.attrs["ABS_f_D"] = 0.25
    assert len(shard_paths(str(root / "part_*.h5"))) == 2
    d = H5VolumeDataset([paper], ["ABS_f_D"])
    v, lab = d[0]
    assert v.shape == (1, 8, 6, 4) and np.array_equal(v[0].numpy(), vols[0])
    assert lab.item() == 0.25


def test_random_crops_are_seeded_and_inside_the_volume(shards):
    root, vols, _ = shards
    ds = H5VolumeDataset(root, ["phi"], crop=(4, 4, 4), seed=5)
    a, _ = ds[2]
    b, _ = H5VolumeDataset(root, ["phi"], crop=(4, 4, 4), seed=5)[2]
    assert a.shape == (1, 4, 4, 4) and torch.equal(a, b)
    full = torch.from_numpy(vols[2]).float()
    found = any(torch.equal(full[x:x + 4, y:y + 4, :], a[0]) for x in range(5) for y in range(3))
    assert found
    with pytest.raises(ValueError, match="crop"):
        H5VolumeDataset(root, ["phi"], crop=(9, 4, 4))


def test_works_with_a_multiprocess_dataloader(shards):
    root, _, attrs = shards
    ds = H5VolumeDataset(root, ["phi"])
    seen = torch.cat([lab for _, lab in DataLoader(ds, batch_size=2, num_workers=2)])
    assert seen[:, 0].tolist() == pytest.approx([a["phi"] for a in attrs])


def test_missing_attributes_and_paths_are_reported(shards, tmp_path):
    root, _, _ = shards
    with pytest.raises(ValueError, match="CT_f_D_tort1"):
        H5VolumeDataset(root, ["CT_f_D_tort1"])
    with pytest.raises(ValueError, match="no such"):
        H5VolumeDataset(tmp_path / "nothing_*.h5", ["phi"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no .h5"):
        H5VolumeDataset(empty, ["phi"])
