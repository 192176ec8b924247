"""Bad input gives one clear error naming the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest

import objectives.io as vio

GOOD = (np.arange(4 * 3 * 2).reshape(4, 3, 2) % 2).astype(np.uint8)


def _one_line(exc: pytest.ExceptionInfo, path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


def test_unknown_extension(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown volume file extension '.png'") as exc:
        vio.read_volume(path)
    _one_line(exc, path)
    with pytest.raises(ValueError, match="unknown volume file extension"):
        vio.write_volume(tmp_path / "a", GOOD)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".h5", ".vti", ".tif", ".txt"])
def test_missing_file(tmp_path, ext):
    with pytest.raises(FileNotFoundError) as exc:
        vio.read_volume(tmp_path / f"nope{ext}")
    _one_line(exc, tmp_path / f"nope{ext}")


@pytest.mark.parametrize("ext", [".npy", ".npz", ".h5", ".vti", ".tif", ".txt"])
def test_garbage_file(tmp_path, ext):
    path = tmp_path / f"junk{ext}"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError) as exc:
        vio.read_volume(path)
    _one_line(exc, path)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".h5", ".vti", ".tif", ".txt"])
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(b"")
    with pytest.raises(ValueError) as exc:
        vio.read_volume(path)
    _one_line(exc, path)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".h5", ".vti", ".tif"])
def test_truncated_file(tmp_path, ext):
    path = tmp_path / f"t{ext}"
    big = np.random.default_rng(0).integers(0, 3, (32, 32, 16)).astype(np.uint8)
    vio.write_volume(path, big, {"ABS_f_D": 0.5} if ext in (".npz", ".h5", ".vti") else None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as exc:
        vio.read_volume(path)
    _one_line(exc, path)


def test_truncated_h5_names_the_file(tmp_path):
    path = tmp_path / "shard.h5"
    vio.write_h5_samples(path, np.stack([GOOD] * 3))
    path.write_bytes(path.read_bytes()[:1000])
    for call in (vio.h5_sample_names, vio.read_h5_samples, vio.read_h5_sample):
        with pytest.raises(ValueError, match="not a readable HDF5 file") as exc:
            call(path)
        _one_line(exc, path)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        vio.write_h5_samples(path, GOOD[None])  # appending to a corrupt file


def test_empty_h5(tmp_path):
    import h5py

    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as fh:
        fh.create_group("not_a_sample")
    assert vio.h5_sample_names(path) == []
    for call in (vio.read_volume, vio.read_h5_samples):
        with pytest.raises(ValueError, match="holds no sample datasets") as exc:
            call(path)
        _one_line(exc, path)


def test_h5_bad_index_and_name(tmp_path):
    path = tmp_path / "s.h5"
    vio.write_h5_samples(path, np.stack([GOOD] * 2))
    with pytest.raises(ValueError, match="index 2 out of range for 2 samples"):
        vio.read_volume(path, index=2)
    with pytest.raises(ValueError, match="no sample named 'zzz'"):
        vio.read_volume(path, index="zzz")
    with pytest.raises(ValueError, match="different shapes"):
        vio.write_h5_samples(path, [GOOD[:, :, :1]])
        vio.read_h5_samples(path)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".vti", ".tif", ".txt"])
def test_index_on_a_single_volume_file(tmp_path, ext):
    vio.write_volume(tmp_path / f"a{ext}", GOOD)
    with pytest.raises(ValueError, match="holds one volume, index must be 0"):
        vio.read_volume(tmp_path / f"a{ext}", index=1)


@pytest.mark.parametrize("bad", [np.full((3, 3, 2), 5), np.full((3, 3, 2), -1),
                                 np.full((3, 3, 2), 0.5), np.full((3, 3, 2), np.nan)])
@pytest.mark.parametrize("ext", [".npy", ".h5", ".vti", ".txt"])
def test_bad_labels_are_refused_on_write(tmp_path, ext, bad):
    with pytest.raises(ValueError, match="labels") as exc:
        vio.write_volume(tmp_path / f"a{ext}", bad)
    _one_line(exc, tmp_path / f"a{ext}")


def test_bad_labels_are_refused_on_read(tmp_path):
    np.save(tmp_path / "a.npy", np.full((3, 3, 2), 7, dtype=np.int16))
    with pytest.raises(ValueError, match=r"labels must be in \{0, 1, 2\}, found 7"):
        vio.read_volume(tmp_path / "a.npy")
    np.save(tmp_path / "f.npy", np.full((3, 3, 2), 0.3))
    with pytest.raises(ValueError, match="threshold continuous volumes first"):
        vio.read_volume(tmp_path / "f.npy")
    (tmp_path / "g.txt").write_text("2 1 1\n0 2\n")
    with pytest.raises(ValueError, match=r"\{0, 1, 3\}, found 2"):
        vio.read_volume(tmp_path / "g.txt")


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2, 2), (0, 3, 3)])
@pytest.mark.parametrize("ext", [".npz", ".vti", ".tif", ".txt"])
def test_wrong_dimensions(tmp_path, ext, shape):
    with pytest.raises(ValueError) as exc:
        vio.write_volume(tmp_path / f"a{ext}", np.zeros(shape, dtype=np.uint8))
    _one_line(exc, tmp_path / f"a{ext}")


def test_graspi_txt_malformed(tmp_path):
    cases = {
        "few.txt": ("2 2 2\n0 1 0\n", "needs 8 values, found 3"),
        "hdr.txt": ("a b c\n0\n", "header must be"),
        "neg.txt": ("2 -1 2\n0 0\n", "header must be"),
        "one.txt": ("4\n0 1 0 1\n", "header must be"),
        "nan.txt": ("2 1\n0 x\n", "must be numbers"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=match) as exc:
            vio.read_volume(tmp_path / name)
        _one_line(exc, tmp_path / name)


def test_vti_malformed(tmp_path):
    head = '<VTKFile type="ImageData" byte_order="LittleEndian"><ImageData WholeExtent="0 2 0 1 0 1">'
    cases = {
        "poly.vti": ('<VTKFile type="PolyData"></VTKFile>', "not a VTK ImageData"),
        "count.vti": (head + '<Piece Extent="0 2 0 1 0 1"><CellData><DataArray type="UInt8" '
                      'Name="phase" format="ascii">0 1 0</DataArray></CellData></Piece>'
                      "</ImageData></VTKFile>", "holds 3 values, the extent needs 2"),
        "none.vti": (head + '<Piece Extent="0 2 0 1 0 1"></Piece></ImageData></VTKFile>',
                     "no cell or point data array"),
        "two.vti": (head + '<Piece Extent="0 2 0 1 0 1"><CellData>'
                    '<DataArray type="UInt8" Name="a" format="ascii">0 1</DataArray>'
                    '<DataArray type="UInt8" Name="b" format="ascii">0 1</DataArray>'
                    "</CellData></Piece></ImageData></VTKFile>", "several arrays"),
        "vec.vti": (head + '<Piece Extent="0 2 0 1 0 1"><CellData><DataArray type="UInt8" '
                    'Name="phase" NumberOfComponents="3" format="ascii">0 1 0 0 1 0</DataArray>'
                    "</CellData></Piece></ImageData></VTKFile>", "one component"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=match) as exc:
            vio.read_volume(tmp_path / name)
        _one_line(exc, tmp_path / name)


def test_npz_without_a_volume(tmp_path):
    np.savez(tmp_path / "a.npz", x=GOOD, y=GOOD)
    with pytest.raises(ValueError, match="none named 'volume'") as exc:
        vio.read_volume(tmp_path / "a.npz")
    msg = _one_line(exc, tmp_path / "a.npz")
    assert "'x', 'y'" in msg  # the keys that are there


@pytest.mark.parametrize("ext", [".npy", ".npz"])
@pytest.mark.parametrize("how", ["object array", "pickle file"])
def test_pickled_numpy_files_get_a_plain_error(tmp_path, ext, how):
    """No advice to load pickles unsafely: a plain one-line reason, and nothing is unpickled."""
    import pickle

    path = tmp_path / f"p{ext}"
    marker = tmp_path / "ran"
    if how == "object array":
        arr = np.array([{"a": 1}], dtype=object)
        np.save(path, arr) if ext == ".npy" else np.savez(path, volume=arr)
    else:
        class Payload:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError) as exc:
        vio.read_volume(path)
    msg = _one_line(exc, path)
    assert "allow_pickle" not in msg and "trust" not in msg and "pickle.load" not in msg
    assert "Python objects (pickled data), which are never loaded" in msg
    assert not marker.exists()


def test_tiff_with_colour_pages(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((4, 5, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(ValueError):
        vio.read_volume(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "4d.tif", np.zeros((2, 3, 4, 5), dtype=np.uint8), photometric="minisblack")
    with pytest.raises(ValueError, match="expected a stack of grey pages") as exc:
        vio.read_volume(tmp_path / "4d.tif")
    _one_line(exc, tmp_path / "4d.tif")
