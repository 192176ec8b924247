"""Each format checked against an independent reference: the shared fixtures and C++ GraSPI's
numbers, a hand-written GraSPI file, files written by VTK itself, tifffile and h5py directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import objectives.io as vio

from tests.reference_data import GRASPI, VTK_FILES


# ------------------------------------------------------------------ fixture npz (packed + shape)
@pytest.mark.parametrize("name", ["p_16x16x8", "p_24cube_f35", "p_32x32x16_f60", "p_64cube_median"])
def test_fixture_npz_matches_graspi_counts_and_orientation(name):
    ref = json.loads((GRASPI / "graspi_cpp_reference.json").read_text())[name]
    vol = vio.read_volume(GRASPI / f"{name}.npz")
    assert vol.dtype == np.uint8 and list(vol.shape) == ref["shape"]
    d = ref["descriptors"]
    donor = vol == 0
    nz = vol.shape[-1]
    assert donor.sum() == d["STAT_n_D"] and (vol == 1).sum() == d["STAT_n_A"]
    # orientation-sensitive numbers: z is the last axis, the anode the top layer z = nz - 1
    assert donor[:, :, -1].sum() + 1 == d["CT_n_D_adj_An"]
    assert (vol[:, :, 0] == 1).sum() + 1 == d["CT_n_A_adj_Ca"]
    k = np.nonzero(donor)[2]
    wf = np.exp(-(nz - k) / 100.0).sum() / vol.size
    assert wf == pytest.approx(d["ABS_wf_D"], rel=2e-6)
    faces = sum(
        ((np.take(vol, range(1, n), axis=a) != np.take(vol, range(n - 1), axis=a))).sum()
        for a, n in enumerate(vol.shape)
    )
    assert faces == d["STAT_e"]


def test_example_npz_and_single_array_npz(tmp_path):
    example = Path(__file__).resolve().parents[1] / "invdesign" / "examples" / "ch_32x32x16.npz"
    np.testing.assert_array_equal(vio.read_volume(example), np.load(example)["volume"])
    vol = np.arange(24).reshape(2, 3, 4) % 3
    np.savez(tmp_path / "one.npz", anything=vol)
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "one.npz"), vol)
    packed = np.packbits((vol == 1).astype(np.uint8).ravel())
    np.savez(tmp_path / "p.npz", packed=packed, shape=np.array(vol.shape), labels_note="x")
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "p.npz"), vol == 1)


# ------------------------------------------------------------------ GraSPI text
HAND_WRITTEN = """3 2 2
0 1 3
1 1 0
3 0 0
1 1 1
"""


def test_graspi_txt_reads_a_hand_written_file_x_fastest(tmp_path):
    (tmp_path / "m.txt").write_text(HAND_WRITTEN)
    vol = vio.read_volume(tmp_path / "m.txt")
    assert vol.shape == (3, 2, 2)
    # line by line: (x, y=0, z=0) for x = 0..2, then y=1, z=0, then y=0, z=1, then y=1, z=1
    assert vol[:, 0, 0].tolist() == [0, 1, 2]  # GraSPI's 3 is the mixed phase, label 2 here
    assert vol[:, 1, 0].tolist() == [1, 1, 0]
    assert vol[:, 0, 1].tolist() == [2, 0, 0]
    assert vol[:, 1, 1].tolist() == [1, 1, 1]


def test_graspi_txt_writes_x_fastest_and_mixed_as_3(tmp_path):
    vol = np.zeros((3, 2, 2), dtype=np.uint8)
    vol[:, 0, 0] = [0, 1, 2]
    vol[:, 1, 0] = [1, 1, 0]
    vol[:, 0, 1] = [2, 0, 0]
    vol[:, 1, 1] = [1, 1, 1]
    vio.write_volume(tmp_path / "m.txt", vol)
    assert (tmp_path / "m.txt").read_text().split() == HAND_WRITTEN.split()


@pytest.mark.parametrize("header", ["4 3", "4 3 1", "4 3 0"])
def test_graspi_txt_2d_headers(tmp_path, header):
    values = np.arange(12) % 2
    (tmp_path / "m.txt").write_text(header + "\n" + " ".join(map(str, values)) + "\n")
    vol = vio.read_volume(tmp_path / "m.txt")
    assert vol.shape == (4, 3)
    np.testing.assert_array_equal(vol, values.reshape(4, 3, order="F"))


def test_graspi_txt_2d_written_with_two_numbers(tmp_path):
    vio.write_volume(tmp_path / "m.txt", np.array([[0, 2], [1, 0], [1, 1]]))
    lines = (tmp_path / "m.txt").read_text().splitlines()
    assert lines[0] == "3 2"
    assert " ".join(lines[1:]).split() == ["0", "1", "1", "3", "0", "1"]


def test_graspi_txt_accepts_microgen3d_style_single_line_floats(tmp_path):
    (tmp_path / "m.txt").write_text("2 2 2\n0 1 1 0 3.0 0 1 1 ")
    vol = vio.read_volume(tmp_path / "m.txt")
    np.testing.assert_array_equal(vol.ravel(order="F"), [0, 1, 1, 0, 2, 0, 1, 1])


# ------------------------------------------------------------------ VTK's own files
VTK_CASES = sorted(p.name for p in VTK_FILES.glob("vtk_*.vti"))


def test_vtk_reference_files_are_present():
    assert len(VTK_CASES) == 28


@pytest.mark.parametrize("name", VTK_CASES)
def test_reads_files_written_by_vtk(name):
    ref = np.load(VTK_FILES / f"vtkref_{name.split('_')[1]}.npy")
    vol = vio.read_volume(VTK_FILES / name)
    assert vol.shape == ref.shape
    np.testing.assert_array_equal(vol, ref)


def test_vti_written_layout(tmp_path):
    vol = np.zeros((3, 2, 2), dtype=np.uint8)
    vol[1, 0, 0] = 1
    vol[0, 1, 1] = 2
    vio.write_volume(tmp_path / "a.vti", vol, vti_encoding="ascii")
    text = (tmp_path / "a.vti").read_text()
    assert 'WholeExtent="0 3 0 2 0 2"' in text
    assert '<CellData Scalars="phase">' in text and 'Name="phase"' in text
    body = text.split('format="ascii">')[1].split("</DataArray>")[0].split()
    assert body == ["0", "1", "0", "0", "0", "0", "0", "0", "0", "2", "0", "0"]  # x fastest


def test_vti_point_data_like_microgen3d(tmp_path):
    vol = (np.arange(24).reshape(4, 3, 2) % 3).astype(float)
    flat = " ".join(f"{v:g}" for v in vol.ravel(order="F"))
    (tmp_path / "m.vti").write_text(
        '<?xml version="1.0"?>\n <VTKFile type="ImageData" version="0.1" byte_order="LittleEndian">\n'
        ' <ImageData WholeExtent="0 3 0 2 0 1" Origin="0 0 0" Spacing="1 1 1">\n'
        ' <Piece Extent="0 3 0 2 0 1">\n<PointData Scalars="u">\n'
        f'<DataArray type="Float64" Name="phi" format="ascii">\n{flat} </DataArray>\n'
        "</PointData>\n</Piece>\n </ImageData>\n</VTKFile>\n"
    )
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "m.vti"), vol)


# ------------------------------------------------------------------ TIFF axis convention
def test_tiff_pages_are_z_layers(tmp_path):
    import tifffile

    vol = (np.arange(5 * 4 * 3).reshape(5, 4, 3) % 3).astype(np.uint8)
    vio.write_volume(tmp_path / "s.tif", vol)
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        pages = [p.asarray() for p in tif.pages]
    assert len(pages) == 3
    for z, page in enumerate(pages):
        assert page.shape == (5, 4)
        np.testing.assert_array_equal(page, vol[:, :, z])
    # a plain stack written by another tool, (Z, X, Y) on disk
    tifffile.imwrite(
        tmp_path / "plain.tif", vol.transpose(2, 0, 1).astype(np.uint16), photometric="minisblack"
    )
    np.testing.assert_array_equal(vio.read_volume(tmp_path / "plain.tif"), vol)


# ------------------------------------------------------------------ HDF5 as MicroGen3D reads it
def test_h5_layout_is_what_microgen3d_loader_reads(tmp_path):
    import h5py

    vols = np.stack([(np.arange(4 * 4 * 2).reshape(4, 4, 2) + s) % 2 for s in range(11)])
    attrs = [{"ABS_f_D": 0.5 + s / 100, "CT_f_D_tort1": 0.9, "CT_f_A_tort1": 0.8} for s in range(11)]
    vio.write_h5_samples(tmp_path / "part_1.h5", vols, attrs)
    names = ["ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1"]
    with h5py.File(tmp_path / "part_1.h5", "r") as fh:  # what MicroGen3D's H5Dataset does
        keys = list(fh.keys())
        assert len(keys) == 11
        for index in range(11):
            image = fh[keys[index]][:].reshape(1, 4, 4, 2).astype(np.float32)
            label = [fh[keys[index]].attrs[a] for a in names]
            np.testing.assert_array_equal(image[0], vols[index])
            assert label == pytest.approx([attrs[index][a] for a in names])
    # and a file written the way MicroGen3D's data was: float (1, X, Y, Z) datasets
    with h5py.File(tmp_path / "theirs.h5", "w") as fh:
        ds = fh.create_dataset("img_0", data=vols[3][None].astype(np.float32))
        ds.attrs["ABS_f_D"] = np.float32(0.25)
    vol, got, name = vio.read_h5_sample(tmp_path / "theirs.h5", 0)
    np.testing.assert_array_equal(vol, vols[3])
    assert got == {"ABS_f_D": 0.25} and name == "img_0"
