"""Entry point of the ``invdesign`` command."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="invdesign",
    help=(
        "Inverse design of 3D multiphase microstructures (organic photovoltaic active layers).\n\n"
        "Measure volumes with GraSPI-exact descriptors, simulate Cahn-Hilliard annealing, train and "
        "sample conditional latent diffusion models, and search their condition space with Bayesian "
        "optimisation for microstructures that meet target descriptors."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command (or command group); each defines ``register(app)``.
COMMAND_MODULES = (
    "describe",
    "convert",
    "simulate",
    "dataset",
    "train",
    "evaluate",
    "design",
    "verify",
    "recipe",
    "export",
    "worker",
    "dashboard",
)

@app.callback()
def _root() -> None:
    """Inverse design of 3D multiphase microstructures."""


@app.command()
def version() -> None:
    """Print the invdesign version."""
    from invdesign import __version__

    typer.echo(__version__)


for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"invdesign.cli.{_name}")
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
