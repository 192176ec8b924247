"""The recipe surrogate: a statistical model of the Cahn-Hilliard simulator.

Recipe (phi, chi, log10 annealing time) -> every modelled descriptor's expected value, its spread
between simulations (noise seeds) and the model's own uncertainty, fitted on a label table of
simulated snapshots and shipped inside a model directory (``surrogate.safetensors``).

It lives in ``generators`` because it models a generator (the simulator) and model directories
(``generators.diffusion.model_dir``) load it; inverting it to recipes is ``invdesign.recipes``.

Public API: :func:`fit_surrogate`, :class:`RecipeSurrogate`, :class:`Prediction`,
:func:`read_table`, :func:`score`.
"""

from generators.surrogate.model import FILENAME, INPUTS, Prediction, RecipeSurrogate, fit_surrogate, score
from generators.surrogate.table import descriptor_columns, read_table

__all__ = ["FILENAME", "INPUTS", "Prediction", "RecipeSurrogate", "descriptor_columns", "fit_surrogate",
           "read_table", "score"]
