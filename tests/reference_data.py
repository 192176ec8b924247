"""Where the tests' reference data live: ``tests/data`` (copied from ``../shared/fixtures``,
see ``tests/data/README.md``), so they run in any clone."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
GRASPI = DATA / "graspi"
MICROGEN3D = DATA / "microgen3d"
VTK_FILES = DATA / "io_vtk"
#: Where the copies came from (absent in a plain clone).
SHARED_FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
