"""Design runs and recipe searches in a background thread, so the page stays responsive; both are
stoppable (between trials; between simulations) and resumable.

The run calls :func:`invdesign.design` against a named study in a storage the page can read, so
progress is read from the study itself (which is also how the page watches other workers' studies).
``budget`` is the number of complete trials the study should hold (a resumed study runs only the
missing ones). Stopping: ``design``'s ``should_stop`` reads the stop flag before each trial, so the
run ends after the trial in progress and returns its result with everything completed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps import studies


class _Background:
    """A run in a daemon thread: ``_launch`` starts ``self._run``; ``stop`` sets the flag the run
    reads between its steps; ``alive`` and ``join`` as for a thread."""

    def _launch(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to stop between steps (the step in progress finishes and is kept)."""
        self._stop.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


@dataclass
class DesignRun(_Background):
    """One design run: ``design_fn(**kwargs, budget=..., storage=..., study_name=...,
    should_stop=...)`` in a thread (``design_fn`` is :func:`invdesign.design` or one like it).

    Attributes
    ----------
    state : str
        ``"idle"``, ``"running"``, ``"finished"``, ``"stopped"`` or ``"failed"``.
    result : Any
        The last ``DesignResult`` returned (``None`` until a call returns).
    error : str or None
        One-line message of the exception that ended the run.
    """

    design_fn: Callable[..., Any]
    budget: int
    storage: str
    study_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    state: str = "idle"
    result: Any = None
    error: str | None = None
    started: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> "DesignRun":
        """Start the run in a daemon thread and return at once."""
        if self.budget < 0:
            raise ValueError(f"budget must be >= 0 (got {self.budget})")
        self.state, self.started = "running", time.time()
        self._launch(f"design-{self.study_name}")
        return self

    def progress(self) -> dict[str, Any]:
        """Trial counts and best value read from the study (zeros before the study exists)."""
        try:
            return studies.progress(studies.load_study(self.storage, self.study_name))
        except ValueError:
            return {"complete": 0, "running": 0, "failed": 0, "total": 0, "best": None,
                    "user_attrs": {}}

    def _run(self) -> None:
        try:
            self.result = self.design_fn(budget=self.budget, storage=self.storage,
                                         study_name=self.study_name, should_stop=self._stop.is_set,
                                         **self.kwargs)
            self.state = "stopped" if self._stop.is_set() else "finished"
        except Exception as exc:  # shown on the page as one line, never a traceback
            self.error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            self.state = "failed"


@dataclass
class RecipeRun(_Background):
    """One recipe search: ``recipe_fn(**kwargs, progress=..., should_stop=...)`` in a thread
    (``recipe_fn`` is :func:`invdesign.recipe`). With ``out_dir`` in ``kwargs`` every finished
    simulation is kept, so starting the same search again resumes it.

    Attributes
    ----------
    state : ``"idle"``, ``"running"``, ``"finished"``, ``"stopped"`` or ``"failed"``
    result : the ``RecipeResult`` (None until the call returns)
    event : the last progress event (``{"stage": ..., "done", "total", ...}``)
    error : one-line message of the exception that ended the search
    """

    recipe_fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    state: str = "idle"
    result: Any = None
    event: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> "RecipeRun":
        self.state = "running"
        self._launch("recipe")
        return self

    def _on_event(self, event: dict) -> None:
        self.event = dict(event)

    def _run(self) -> None:
        try:
            self.result = self.recipe_fn(progress=self._on_event, should_stop=self._stop.is_set,
                                         **self.kwargs)
            self.state = getattr(self.result, "state", "finished")
        except Exception as exc:  # shown on the page as one line
            self.error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            self.state = "failed"
