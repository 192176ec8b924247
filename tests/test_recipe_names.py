"""One recipe-name list: ``generators.protocol.RECIPE_NAMES``; no other module spells it out."""

from __future__ import annotations

import ast
from pathlib import Path

from generators.protocol import RECIPE_NAMES

ROOT = Path(__file__).resolve().parents[1]


def _spelled(path: Path) -> list[int]:
    """Lines of tuple/list/set literals holding all three recipe names."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if set(RECIPE_NAMES) <= values:
                out.append(node.lineno)
    return out


def test_the_recipe_names_are_listed_once():
    assert RECIPE_NAMES == ("phi", "chi", "log_time")
    found = {str(p.relative_to(ROOT)): lines for top in ("objectives", "generators", "invdesign", "apps")
             for p in (ROOT / top).rglob("*.py") if (lines := _spelled(p))}
    assert found == {"generators/protocol.py": found.get("generators/protocol.py")} and found, found


def test_every_layer_uses_the_one_list():
    import apps.results
    import generators.cahn_hilliard.attributes as attributes
    import invdesign.loop.runner as runner
    import invdesign.verification as verification
    from generators.cahn_hilliard import CahnHilliardGenerator
    from generators.diffusion import training
    from generators.microgen3d import PACKS

    for used in (attributes.RECIPE_ATTRS, runner.RECIPE_NAMES, verification.RECIPE, apps.results.RECIPE,
                 training.RECIPE, CahnHilliardGenerator.predicted_names):
        assert used is RECIPE_NAMES
    assert PACKS["ch_3phase"].fp_names[-3:] == RECIPE_NAMES
