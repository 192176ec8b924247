"""`invdesign dashboard` (not implemented yet)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this command to the app (nothing until it is implemented)."""
