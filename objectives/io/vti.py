"""VTK ImageData XML files (``.vti``), written by hand (no VTK needed).

Layout written
--------------
One piece, ``Origin="0 0 0"``, ``Spacing="1 1 1"``, the labels as a ``UInt8`` **cell** data array
named ``phase`` (one cell per voxel, so ParaView draws voxels; a 3-D volume of ``(X, Y, Z)`` has
``WholeExtent="0 X 0 Y 0 Z"``, a 2-D one ``"0 X 0 Y 0 0"``). Values run x fastest, then y, then z
(VTK's order, i.e. ``arr.ravel(order="F")`` of ``arr[x, y, z]``); z is the film thickness.
Numeric sample attributes go to ``FieldData`` as one-value arrays named after the attribute.
``encoding``: ``"ascii"``, ``"base64"`` (inline ``format="binary"``) or ``"appended"``
(``<AppendedData encoding="base64">``); binary data carries a ``UInt64`` byte-count header
(``version="1.0"``, ``header_type="UInt64"``).

Read
----
What is written here, and plain files from other tools: cell or point data (point data as written by
MicroGen3D's ``ToVti``: ``Float64`` array ``phi``, ``Extent = shape - 1``; a single point layer in z
is read as 2-D), ascii / inline binary / appended base64 or raw data, ``UInt32`` or ``UInt64``
headers, little or big endian, uncompressed or ``vtkZLibDataCompressor``. The array named
``phase`` is taken, else the only array of the piece.
"""

from __future__ import annotations

import base64
import math
import os
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from objectives.io.labels import check_labels, plain_attrs

VTK_TYPES = {
    "Int8": "i1", "UInt8": "u1", "Int16": "i2", "UInt16": "u2", "Int32": "i4", "UInt32": "u4",
    "Int64": "i8", "UInt64": "u8", "Float32": "f4", "Float64": "f8",
}
ENCODINGS = ("ascii", "base64", "appended")
ARRAY_NAME = "phase"


# ----------------------------------------------------------------------------- writing
def _b64_block(raw: bytes) -> str:
    """VTK binary block: UInt64 byte count + data, base64 encoded together (uncompressed)."""
    return base64.b64encode(np.uint64(len(raw)).tobytes() + raw).decode("ascii")


def _field_data(attrs: dict | None) -> list[str]:
    lines = []
    for key, value in (attrs or {}).items():
        if isinstance(value, (bool, np.bool_)):
            value = int(value)
        if isinstance(value, (int, np.integer)):
            vtype, text = "Int64", str(int(value))
        elif isinstance(value, (float, np.floating)):
            vtype, text = "Float64", repr(float(value))
        else:
            continue  # strings and arrays have no one-value numeric form
        name = str(key).replace('"', "'").replace("&", "and").replace("<", "(").replace(">", ")")
        lines.append(
            f'      <DataArray type="{vtype}" Name="{name}" NumberOfTuples="1" '
            f'format="ascii">{text}</DataArray>'
        )
    return ["    <FieldData>", *lines, "    </FieldData>"] if lines else []


def write_vti(
    path: str | os.PathLike[str],
    volume: Any,
    attrs: dict | None = None,
    encoding: str = "appended",
) -> None:
    """Write labels as a ``.vti`` file (layout in the module docstring).

    Parameters
    ----------
    path
        Destination file.
    volume
        Labels ``arr[x, y, z]`` or ``arr[x, y]``, values 0, 1, 2.
    attrs
        Optional numeric attributes written as ``FieldData``.
    encoding
        ``"ascii"``, ``"base64"`` or ``"appended"``.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"{path}: vti encoding must be one of {ENCODINGS}, got {encoding!r}")
    arr = check_labels(volume, path)
    attrs = plain_attrs(attrs, path)
    dims = arr.shape + (0,) * (3 - arr.ndim)
    extent = " ".join(f"0 {d}" for d in dims)
    flat = arr.ravel(order="F")
    head = f'type="UInt8" Name="{ARRAY_NAME}" NumberOfComponents="1" ' \
           f'RangeMin="{int(flat.min())}" RangeMax="{int(flat.max())}"'
    appended = ""
    if encoding == "ascii":
        rows = [" ".join(map(str, flat[i:i + 64].tolist())) for i in range(0, flat.size, 64)]
        array = [f'        <DataArray {head} format="ascii">', *rows, "        </DataArray>"]
    elif encoding == "base64":
        array = [f'        <DataArray {head} format="binary">', _b64_block(flat.tobytes()),
                 "        </DataArray>"]
    else:
        array = [f'        <DataArray {head} format="appended" offset="0"/>']
        appended = _b64_block(flat.tobytes())
    lines = [
        '<?xml version="1.0"?>',
        '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
        f'  <ImageData WholeExtent="{extent}" Origin="0 0 0" Spacing="1 1 1">',
        *_field_data(attrs),
        f'    <Piece Extent="{extent}">',
        f'      <CellData Scalars="{ARRAY_NAME}">',
        *array,
        "      </CellData>",
        "    </Piece>",
        "  </ImageData>",
    ]
    if appended:
        lines += ['  <AppendedData encoding="base64">', f"   _{appended}", "  </AppendedData>"]
    lines.append("</VTKFile>")
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")


# ----------------------------------------------------------------------------- reading
class _Binary:
    """Decoding of VTK binary blocks (header + data, optionally zlib-compressed)."""

    def __init__(self, root: ET.Element, path: Path):
        self.path = path
        order = "<" if root.get("byte_order", "LittleEndian") == "LittleEndian" else ">"
        self.order = order
        htype = root.get("header_type", "UInt32")
        if htype not in ("UInt32", "UInt64"):
            raise ValueError(f"{path}: unsupported header_type {htype!r}")
        self.hdtype = np.dtype(order + VTK_TYPES[htype])
        comp = root.get("compressor")
        if comp not in (None, "", "vtkZLibDataCompressor"):
            raise ValueError(f"{path}: unsupported compressor {comp!r} (only zlib)")
        self.zlib = comp == "vtkZLibDataCompressor"

    def _ints(self, raw: bytes, count: int) -> list[int]:
        need = count * self.hdtype.itemsize
        if len(raw) < need:
            raise ValueError(f"{self.path}: binary data block is truncated")
        return np.frombuffer(raw[:need], dtype=self.hdtype).astype(np.int64).tolist()

    def _inflate(self, header: list[int], body: bytes) -> bytes:
        nblocks = header[0]
        sizes = header[3:3 + nblocks]
        if sum(sizes) > len(body):
            raise ValueError(f"{self.path}: compressed data block is truncated")
        out, pos = [], 0
        for size in sizes:
            out.append(zlib.decompress(body[pos:pos + size]))
            pos += size
        return b"".join(out)

    def from_raw(self, raw: bytes) -> bytes:
        """A block of raw bytes (appended raw data)."""
        h = self.hdtype.itemsize
        if not self.zlib:
            (nbytes,) = self._ints(raw, 1)
            if len(raw) < h + nbytes:
                raise ValueError(f"{self.path}: binary data block is truncated")
            return raw[h:h + nbytes]
        (nblocks,) = self._ints(raw, 1)
        header = self._ints(raw, 3 + nblocks)
        return self._inflate(header, raw[(3 + nblocks) * h:])

    def from_b64(self, text: str) -> bytes:
        """A base64 block: header and data together, or (compressed, or other writers) apart."""
        text = "".join(text.split())
        h = self.hdtype.itemsize
        try:
            if not self.zlib:
                raw = base64.b64decode(text + "=" * (-len(text) % 4))
                (nbytes,) = self._ints(raw, 1)
                if len(raw) >= h + nbytes:
                    return raw[h:h + nbytes]
                # header encoded on its own, then the data
                hlen = 4 * math.ceil(h / 3)
                data = base64.b64decode(text[hlen:])
                return data[: self._ints(base64.b64decode(text[:hlen]), 1)[0]]
            first = base64.b64decode(text[: 4 * math.ceil(h / 3)])
            (nblocks,) = self._ints(first, 1)
            hlen = 4 * math.ceil((3 + nblocks) * h / 3)
            header = self._ints(base64.b64decode(text[:hlen]), 3 + nblocks)
            return self._inflate(header, base64.b64decode(text[hlen:]))
        except (ValueError, zlib.error) as exc:
            if str(exc).startswith(str(self.path)):
                raise
            raise ValueError(f"{self.path}: bad binary data ({exc})") from None


def _split_appended(blob: bytes, path: Path) -> tuple[bytes, bytes | None, str | None]:
    """Split a file into its XML part and its appended data (after the ``_`` marker)."""
    start = blob.find(b"<AppendedData")
    if start < 0:
        return blob, None, None
    tag_end = blob.find(b">", start)
    marker = blob.find(b"_", tag_end)
    stop = blob.rfind(b"</AppendedData>")
    if tag_end < 0 or marker < 0:
        raise ValueError(f"{path}: malformed AppendedData section")
    tag = blob[start:tag_end + 1].decode("ascii", "replace")
    enc = re.search(r'encoding="(\w+)"', tag)
    data = blob[marker + 1: stop if stop > marker else len(blob)]
    return blob[:start] + b"</VTKFile>", data, enc.group(1) if enc else "raw"


def _shape(piece: ET.Element, image: ET.Element, cells: bool, path: Path) -> tuple[int, ...]:
    ext_text = piece.get("Extent") or image.get("WholeExtent")
    try:
        ext = [int(v) for v in (ext_text or "").split()]
    except ValueError:
        ext = []
    if len(ext) != 6:
        raise ValueError(f"{path}: bad Extent {ext_text!r}")
    span = [ext[1] - ext[0], ext[3] - ext[2], ext[5] - ext[4]]
    if any(s < 0 for s in span):
        raise ValueError(f"{path}: bad Extent {ext_text!r}")
    if cells:
        shape = tuple(max(s, 1) for s in span)
        return shape[:2] if span[2] == 0 else shape
    shape = tuple(s + 1 for s in span)
    return shape[:2] if shape[2] == 1 else shape


def _pick_array(piece: ET.Element, path: Path) -> tuple[ET.Element, bool]:
    found = []
    for section, cells in (("CellData", True), ("PointData", False)):
        for node in piece.findall(section):
            found += [(arr, cells) for arr in node.findall("DataArray")]
    named = [item for item in found if item[0].get("Name") == ARRAY_NAME]
    if named:
        return named[0]
    if len(found) == 1:
        return found[0]
    names = [a.get("Name") for a, _ in found]
    if not found:
        raise ValueError(f"{path}: no cell or point data array in the .vti file")
    raise ValueError(f"{path}: no array named {ARRAY_NAME!r} and several arrays {names}")


def _values(node: ET.Element, count: int, dec: _Binary, appended, path: Path) -> np.ndarray:
    vtype = node.get("type", "")
    if vtype not in VTK_TYPES:
        raise ValueError(f"{path}: unsupported DataArray type {vtype!r}")
    if int(node.get("NumberOfComponents", "1")) != 1:
        raise ValueError(f"{path}: the label array must have one component")
    dtype = np.dtype(dec.order + VTK_TYPES[vtype])
    fmt = node.get("format", "ascii")
    if fmt == "ascii":
        try:
            values = np.array((node.text or "").split(), dtype=np.float64)
        except ValueError:
            raise ValueError(f"{path}: non-numeric ascii data") from None
    else:
        if fmt == "binary":
            raw = dec.from_b64(node.text or "")
        elif fmt == "appended":
            data, enc = appended
            if data is None:
                raise ValueError(f"{path}: appended array but no AppendedData section")
            offset = int(node.get("offset", "0"))
            if enc == "base64":
                raw = dec.from_b64(b"".join(data.split())[offset:].decode("ascii", "replace"))
            else:
                raw = dec.from_raw(data[offset:])
        else:
            raise ValueError(f"{path}: unknown DataArray format {fmt!r}")
        if len(raw) < count * dtype.itemsize:
            raise ValueError(f"{path}: data array is truncated")
        values = np.frombuffer(raw[: count * dtype.itemsize], dtype=dtype)
    if values.size != count:
        raise ValueError(f"{path}: data array holds {values.size} values, the extent needs {count}")
    return values


def read_vti_sample(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict]:
    """Read labels and numeric ``FieldData`` attributes from a ``.vti`` file.

    Returns
    -------
    volume : numpy.ndarray
        ``uint8`` labels ``arr[x, y, z]`` (or ``arr[x, y]``).
    attrs : dict
        One-value ``FieldData`` arrays as ``{name: number}``.
    """
    path = Path(path)
    blob = path.read_bytes()
    xml, data, enc = _split_appended(blob, path)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not a readable .vti file ({exc})") from None
    if root.tag != "VTKFile" or root.get("type") != "ImageData":
        raise ValueError(f"{path}: not a VTK ImageData file")
    image = root.find("ImageData")
    pieces = image.findall("Piece") if image is not None else []
    if len(pieces) != 1:
        raise ValueError(f"{path}: expected one ImageData piece, found {len(pieces)}")
    dec = _Binary(root, path)
    node, cells = _pick_array(pieces[0], path)
    shape = _shape(pieces[0], image, cells, path)
    flat = _values(node, math.prod(shape), dec, (data, enc), path)
    attrs: dict[str, Any] = {}
    for field in image.findall("FieldData"):
        for arr in field.findall("DataArray"):
            if arr.get("format", "ascii") == "ascii" and arr.get("Name"):
                vals = (arr.text or "").split()
                if len(vals) == 1:
                    num = float(vals[0])
                    attrs[arr.get("Name")] = int(num) if arr.get("type", "").startswith(("Int", "UInt")) else num
    return check_labels(flat.reshape(shape, order="F"), path), attrs
