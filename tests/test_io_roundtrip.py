"""Round trips through every volume format: labels, shape and attributes come back exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import objectives.io as vio

EXTENSIONS = [".npy", ".npz", ".h5", ".hdf5", ".vti", ".tif", ".tiff", ".txt"]
SHAPES = [(7, 5, 4), (9, 6), (3, 4, 2), (1, 2, 3)]


def _volume(shape: tuple[int, ...], phases: int, seed: int = 0) -> np.ndarray:
    vol = np.random.default_rng(seed).integers(0, phases, size=shape).astype(np.uint8)
    vol.flat[: phases] = np.arange(phases)  # every phase present
    return vol


@pytest.mark.parametrize("ext", EXTENSIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("phases", [2, 3])
def test_round_trip(tmp_path, ext, shape, phases):
    vol = _volume(shape, phases)
    path = tmp_path / f"vol{ext}"
    vio.write_volume(path, vol)
    back = vio.read_volume(path)
    assert back.dtype == np.uint8
    assert back.shape == vol.shape
    np.testing.assert_array_equal(back, vol)


@pytest.mark.parametrize("encoding", ["ascii", "base64", "appended"])
@pytest.mark.parametrize("shape", [(6, 5, 4), (5, 3), (4, 3, 1)])
def test_vti_encodings_round_trip_with_attributes(tmp_path, encoding, shape):
    vol = _volume(shape, 3, seed=1)
    attrs = {"ABS_f_D": 0.1 + 0.2, "STAT_n": 120, "phi": -1.5e-7}
    path = tmp_path / "v.vti"
    vio.write_volume(path, vol, attrs, vti_encoding=encoding)
    back, got = vio.read_sample(path)
    np.testing.assert_array_equal(back, vol)
    assert back.shape == vol.shape
    assert got == attrs  # floats written with repr: bit-exact


def test_three_d_single_layer_keeps_its_dimension_where_the_format_can(tmp_path):
    vol = _volume((4, 3, 1), 2)
    for ext in (".npy", ".npz", ".h5", ".vti", ".tif"):
        vio.write_volume(tmp_path / f"a{ext}", vol)
        assert vio.read_volume(tmp_path / f"a{ext}").shape == (4, 3, 1), ext
    with pytest.raises(ValueError, match="one layer"):
        vio.write_volume(tmp_path / "a.txt", vol)


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_attributes_round_trip(tmp_path, ext):
    vol = _volume((5, 5, 3), 2)
    attrs = {"ABS_f_D": 0.4375, "CT_f_D_tort1": 0.9, "STAT_n": 75, "recipe": "ch"}
    vio.write_volume(tmp_path / f"a{ext}", vol, attrs)
    back, got = vio.read_sample(tmp_path / f"a{ext}")
    np.testing.assert_array_equal(back, vol)
    assert got == attrs


def test_formats_without_attributes_warn_when_given_some(tmp_path):
    with pytest.warns(UserWarning, match="no attributes"):
        vio.write_volume(tmp_path / "a.npy", _volume((3, 3, 3), 2), {"ABS_f_D": 0.5})


def test_torch_tensor_input(tmp_path):
    vol = _volume((4, 4, 4), 3)
    vio.write_volume(tmp_path / "t.npy", torch.from_numpy(vol).long())
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "t.npy"), vol)


def test_integral_floats_and_bools_are_accepted(tmp_path):
    vol = _volume((4, 4, 2), 3)
    np.save(tmp_path / "f.npy", vol.astype(np.float32))
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "f.npy"), vol)
    np.save(tmp_path / "b.npy", vol == 1)
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "b.npy"), (vol == 1).astype(np.uint8))


def test_four_d_npy_is_a_batch(tmp_path):
    batch = np.stack([_volume((3, 3, 2), 2, seed=s) for s in range(3)])
    np.save(tmp_path / "b.npy", batch)
    np.savez(tmp_path / "b.npz", volume=batch)
    for name in ("b.npy", "b.npz"):
        np.testing.assert_array_equal(vio.read_volume(tmp_path / name, index=2), batch[2])
        np.testing.assert_array_equal(vio.read_volume(tmp_path / name, index=-1), batch[2])
        with pytest.raises(ValueError, match="out of range"):
            vio.read_volume(tmp_path / name, index=3)


def test_h5_many_samples_keep_write_order_across_appends(tmp_path):
    path = tmp_path / "shard.h5"
    vols = np.stack([_volume((4, 3, 2), 3, seed=s) for s in range(12)])
    attrs = [{"ABS_f_D": float(s) / 10, "phi": 0.5} for s in range(12)]
    names = vio.write_h5_samples(path, vols[:5], attrs[:5])
    names += vio.write_h5_samples(path, list(vols[5:]), attrs[5:])  # a list, appended
    assert names == [f"sample_{i:07d}" for i in range(12)]
    assert vio.h5_sample_names(path) == names
    got, got_attrs, got_names = vio.read_h5_samples(path)
    np.testing.assert_array_equal(got, vols)
    assert got_attrs == attrs and got_names == names
    sub, sub_attrs, sub_names = vio.read_h5_samples(path, indices=[11, 0])
    np.testing.assert_array_equal(sub, vols[[11, 0]])
    assert sub_names == [names[11], names[0]]
    for i in (0, 7, -1):
        np.testing.assert_array_equal(vio.read_volume(path, index=i), vols[i])
    vol, a, name = vio.read_h5_sample(path, "sample_0000003")
    np.testing.assert_array_equal(vol, vols[3])
    assert a == attrs[3] and name == "sample_0000003"


def test_h5_custom_names_mode_w_and_clashes(tmp_path):
    path = tmp_path / "s.h5"
    vols = np.stack([_volume((3, 3), 2, seed=s) for s in range(2)])
    vio.write_h5_samples(path, vols, names=["b", "a"])
    assert vio.h5_sample_names(path) == ["a", "b"]  # h5py lists by name: MicroGen3D's order
    with pytest.raises(ValueError, match="already exists"):
        vio.write_h5_samples(path, vols[:1], names=["a"])
    vio.write_h5_samples(path, vols[:1], mode="w")
    assert vio.h5_sample_names(path) == ["sample_0000000"]
    with pytest.raises(ValueError, match="2 volumes but 1"):
        vio.write_h5_samples(path, vols, attrs=[{}])
    with pytest.raises(ValueError, match="number or a string"):
        vio.write_h5_samples(path, vols[:1], attrs=[{"x": {"nested": 1}}])


@pytest.mark.parametrize("ext", [".npz", ".h5", ".vti"])
def test_numpy_and_torch_scalar_attributes_become_plain_numbers(tmp_path, ext):
    attrs = {"a": np.float32(0.5), "b": torch.tensor(0.25, dtype=torch.float64), "c": np.int64(7)}
    vio.write_volume(tmp_path / f"a{ext}", _volume((3, 3, 2), 2), attrs)
    got = vio.read_sample(tmp_path / f"a{ext}")[1]
    assert got == {"a": 0.5, "b": 0.25, "c": 7}
    with pytest.raises(ValueError, match="must be one number"):
        vio.write_volume(tmp_path / f"b{ext}", _volume((3, 3, 2), 2), {"v": np.zeros(3)})


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

_volumes = st.one_of(
    arrays(np.uint8, st.tuples(*[st.integers(1, 6)] * 2), elements=st.integers(0, 2)),
    arrays(np.uint8, st.tuples(*[st.integers(1, 6)] * 2, st.integers(2, 5)), elements=st.integers(0, 2)),
)


@settings(max_examples=25, deadline=None)
@given(vol=_volumes)
def test_any_small_volume_round_trips_through_every_format(tmp_path_factory, vol):
    folder = tmp_path_factory.mktemp("prop")
    for ext in (".npy", ".npz", ".h5", ".vti", ".tif", ".txt"):
        vio.write_volume(folder / f"v{ext}", vol)
        back = vio.read_volume(folder / f"v{ext}")
        assert back.shape == vol.shape, ext
        np.testing.assert_array_equal(back, vol, err_msg=ext)
