"""The package layout's one rule: imports flow apps -> invdesign -> generators -> objectives.

``objectives`` needs only numpy and torch at import time (h5py/tifffile are imported inside the
functions that read those formats)."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["objectives", "generators", "invdesign", "apps"]  # each may import only those before it


def _imports(path: Path, top_level_only: bool = False):
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_flow_one_way(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    forbidden = set(LAYERS) - allowed
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for path in sorted((ROOT / layer).rglob("*.py"))
           for name, line in _imports(path) if name in forbidden]
    assert not bad, "imports against apps -> invdesign -> generators -> objectives:\n" + "\n".join(bad)


def test_objectives_needs_only_numpy_and_torch_at_import():
    allowed = {"numpy", "torch", "objectives", "__future__"} | set(sys.stdlib_module_names)
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for path in sorted((ROOT / "objectives").rglob("*.py"))
           for name, line in _imports(path, top_level_only=True) if name not in allowed]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("import numpy\n\ndef f():\n    from invdesign.loop import api\n")
    assert ("invdesign", 4) in list(_imports(bad))
    assert ("invdesign", 4) not in list(_imports(bad, top_level_only=True))
