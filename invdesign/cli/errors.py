"""How commands report bad input: one line naming the problem, exit status 2, no traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

_err = Console(stderr=True)


class UserError(ValueError):
    """Bad input from the user (file, value, name): shown as one line, never as a traceback."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors (bad values, unreadable files) into a one-line message and exit 2."""
    try:
        yield
    except (ValueError, FileNotFoundError, PermissionError, OSError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        _err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
