"""Recipes that make target microstructures: the recipe surrogate inverted over (phi, chi,
annealing time) (:mod:`~invdesign.recipes.search`), verified by re-simulation with fresh seeds
(:mod:`~invdesign.recipes.api`, finished runs kept on disk by :mod:`~invdesign.recipes.runs`),
and the recipe each design candidate carries (:mod:`~invdesign.recipes.candidates`)."""
