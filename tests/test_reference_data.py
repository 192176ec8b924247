"""The reference data travel with the tests, and stay equal to their source when it is present."""

from __future__ import annotations

import filecmp

import pytest

from tests.reference_data import GRASPI, MICROGEN3D, SHARED_FIXTURES

EXPECTED = {
    GRASPI: ["graspi_cpp_reference.json", "p_16x16x8.npz", "p_24cube_f35.npz", "p_24cube_periodic.npz",
             "p_32x32x16_f60.npz", "p_64cube_median.npz"],
    MICROGEN3D: [f"{kind}_{pack}.{ext}" for pack in ("experimental", "ch_2phase", "ch_3phase")
                 for kind, ext in (("keys", "json"), ("golden", "npz"))],
}


@pytest.mark.parametrize("folder", list(EXPECTED), ids=lambda p: p.name)
def test_reference_data_are_in_the_repository(folder):
    missing = [n for n in EXPECTED[folder] if not (folder / n).is_file()]
    assert not missing, f"{folder} lacks {missing} (copy them from ../shared/fixtures)"
    assert sum((folder / n).stat().st_size for n in EXPECTED[folder]) < 1_000_000  # keep them small


@pytest.mark.parametrize("folder", list(EXPECTED), ids=lambda p: p.name)
def test_copies_equal_their_source_when_present(folder):
    source = SHARED_FIXTURES / folder.name
    if not source.is_dir():
        return  # a plain clone: the copies are the reference
    differ = [n for n in EXPECTED[folder] if not filecmp.cmp(folder / n, source / n, shallow=False)]
    assert not differ, f"tests/data/{folder.name} differs from {source}: {differ}"
