"""How the files beside this script were made: run with the PyPI ``vtk`` package (9.7.2 was used).

Each ``vtk_<2d|3d>_<cell|point>_<mode>_<compressor>.vti`` holds the labels of ``vtkref_<nd>.npy``
(``arr[x, y, z]``, x fastest in VTK order), written by ``vtkXMLImageDataWriter``: cell data
``UInt8 phase`` or point data ``Float64 phi``; ascii, inline binary, appended raw or appended
base64; uncompressed or zlib; the uncompressed inline-binary cell files use a UInt64 header.
"""
import numpy as np
import vtk

# VTK-written files for the reader
rng = np.random.default_rng(2)
for shape in [(5, 4, 3), (6, 7)]:
    v = rng.integers(0, 3, shape).astype(np.uint8)
    for where in ["cell", "point"]:
        img = vtk.vtkImageData()
        if where == "cell":
            img.SetDimensions(*[s + 1 for s in shape] + ([1] if len(shape) == 2 else []))
        else:
            img.SetDimensions(*list(shape) + ([1] if len(shape) == 2 else []))
        a = vtk.vtkUnsignedCharArray() if where == "cell" else vtk.vtkDoubleArray()
        a.SetName("phase" if where == "cell" else "phi")
        flat = v.ravel(order="F")
        a.SetNumberOfTuples(flat.size)
        for i, x in enumerate(flat.tolist()):
            a.SetValue(i, x)
        (img.GetCellData() if where == "cell" else img.GetPointData()).AddArray(a)
        for mode in ["ascii", "binary", "appended_raw", "appended_b64"]:
            for comp in ["none", "zlib"]:
                if mode == "ascii" and comp == "zlib":
                    continue
                w = vtk.vtkXMLImageDataWriter()
                name = f"vtk_{len(shape)}d_{where}_{mode}_{comp}.vti"
                w.SetFileName(name); w.SetInputData(img)
                if mode == "ascii": w.SetDataModeToAscii()
                elif mode == "binary": w.SetDataModeToBinary()
                else:
                    w.SetDataModeToAppended(); w.SetEncodeAppendedData(mode == "appended_b64")
                if mode == "binary" and comp == "none" and where == "cell": w.SetHeaderTypeToUInt64()
                if comp == "none": w.SetCompressorTypeToNone()
                else: w.SetCompressorTypeToZLib()
                w.Write()
        np.save(f"vtkref_{len(shape)}d.npy", v)
