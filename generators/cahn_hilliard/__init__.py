"""Flory-Huggins Cahn-Hilliard simulation of blend annealing (recipe phi, chi, time -> volume).

Public API: :func:`simulate`, :func:`integrate`, :class:`CHParams`, :func:`default_times`,
:func:`phase_map`, :class:`CahnHilliardGenerator`, and the diagnostics :func:`free_energy`,
:func:`characteristic_length`, :func:`structure_factor`, :func:`coarsening_exponent`.
"""

from generators.cahn_hilliard.analysis import (
    characteristic_length,
    coarsening_exponent,
    free_energy,
    structure_factor,
)
from generators.cahn_hilliard.free_energy import binodal, bulk_free_energy, chemical_potential_bulk
from generators.cahn_hilliard.generator import CahnHilliardGenerator, simulator_spec
from generators.cahn_hilliard.params import CHParams, default_times
from generators.cahn_hilliard.phases import mixed_halfwidth, phase_map
from generators.cahn_hilliard.solver import initial_field, integrate, simulate

__all__ = [
    "CHParams",
    "CahnHilliardGenerator",
    "binodal",
    "bulk_free_energy",
    "characteristic_length",
    "chemical_potential_bulk",
    "coarsening_exponent",
    "default_times",
    "free_energy",
    "initial_field",
    "integrate",
    "mixed_halfwidth",
    "phase_map",
    "simulate",
    "simulator_spec",
    "structure_factor",
]
