"""invdesign: inverse design of 3D multiphase microstructures.

The design loop, studies, recipes and their verification, the public API and the CLI.

Public API (imported lazily, so ``import invdesign`` stays cheap)
-----------------------------------------------------------------
design(targets, tolerance, model, budget, ...) -> DesignResult
verify(candidate, simulator=None, seeds=3, ...) -> VerifyResult
recipe(targets, tolerance, model, verify_seeds=3, ...) -> RecipeResult
run_trials(study, generator, n_trials) -> int   (for workers sharing a study)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "design": "invdesign.loop.api",
    "DesignResult": "invdesign.loop.results",
    "run_trials": "invdesign.loop.runner",
    "verify": "invdesign.verification",
    "VerifyResult": "invdesign.verification",
    "recipe": "invdesign.recipes.api",
    "RecipeResult": "invdesign.recipes.result",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'invdesign' has no attribute {name!r}")
