"""Volume files: NumPy, HDF5 in MicroGen3D's layout, VTK ``.vti``, TIFF stacks, GraSPI ``.txt``.

Readers return ``numpy.uint8`` labels ``arr[x, y, z]`` (2-D: ``arr[x, y]``): 0 donor, 1 acceptor,
2 mixed; the last axis is the film thickness. h5py and tifffile are imported only when used.
"""

from objectives.io.dispatch import (
    FORMATS,
    FORMATS_WITH_ATTRS,
    read_sample,
    read_volume,
    volume_format,
    write_volume,
)
from objectives.io.graspi_txt import read_graspi_txt, write_graspi_txt
from objectives.io.hdf5 import (
    h5_sample_names,
    read_h5_sample,
    read_h5_samples,
    write_h5_samples,
)
from objectives.io.labels import check_labels
from objectives.io.numpy_files import read_npy, read_npz_sample, write_npy, write_npz
from objectives.io.tiff import read_tiff, write_tiff
from objectives.io.vti import read_vti_sample, write_vti

__all__ = [
    "FORMATS",
    "FORMATS_WITH_ATTRS",
    "check_labels",
    "h5_sample_names",
    "read_graspi_txt",
    "read_h5_sample",
    "read_h5_samples",
    "read_npy",
    "read_npz_sample",
    "read_sample",
    "read_tiff",
    "read_volume",
    "read_vti_sample",
    "volume_format",
    "write_graspi_txt",
    "write_h5_samples",
    "write_npy",
    "write_npz",
    "write_tiff",
    "write_volume",
    "write_vti",
]
