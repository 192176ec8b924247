"""Main-page section: start, stop and resume a design run with live progress; watch a study."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from apps import studies
from apps.runner import DesignRun

DEFAULT_DIR = Path("runs") / "dashboard"


def _design_fn():
    import invdesign

    if not hasattr(invdesign, "design"):
        raise ValueError("this installation has no design API (invdesign.design) yet")
    return invdesign.design


def run_section(settings: dict | None) -> None:
    """Study inputs, Start/Stop buttons and the live progress of the current run."""
    st.subheader("Design run")
    st.session_state.setdefault("study_name", time.strftime("dash-%Y%m%d-%H%M%S"))
    st.session_state.setdefault("storage", f"sqlite:///{DEFAULT_DIR / 'studies.db'}")
    c1, c2 = st.columns(2)
    storage = c1.text_input("Storage (URL or journal file)", key="storage")
    name = c2.text_input("Study name (an existing one resumes)", key="study_name")
    run: DesignRun | None = st.session_state.get("run")
    running = run is not None and run.alive
    b1, b2 = st.columns(2)
    if b1.button("Start / resume", disabled=running or settings is None, key="start"):
        _start(settings, storage, name)
        run, running = st.session_state.get("run"), True
    if b2.button("Stop", disabled=not running, key="stop") and run is not None:
        run.stop()
        st.info("Stopping after the trial in progress.")
    if run is not None:
        st.fragment(_live, run_every=1.0 if run.alive else None)()


def _start(settings: dict, storage: str, name: str) -> None:
    try:
        if not name.strip():
            raise ValueError("study name is empty")
        if "://" in storage and storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        studies.open_storage(storage)
        kwargs = {k: settings[k] for k in ("targets", "tolerance", "samples_per_trial", "method",
                                           "seed")}
        if settings.get("threads"):
            kwargs["threads"] = settings["threads"]
        kwargs.update(model=st.session_state.generator, out_dir=str(DEFAULT_DIR / name.strip()),
                      device=st.session_state.get("device", "cpu"))
        run = DesignRun(_design_fn(), settings["budget"], storage, name.strip(), kwargs)
        st.session_state.run = run.start()
        st.session_state.run_settings = settings
    except ValueError as exc:
        st.error(str(exc))


def _live() -> None:
    run: DesignRun = st.session_state.run
    p = run.progress()
    label = {"running": "Design running", "finished": "Design finished",
             "stopped": "Design stopped", "failed": "Design failed"}[run.state]
    state = {"running": "running", "failed": "error"}.get(run.state, "complete")
    with st.status(f"{label}: study {run.study_name}", state=state, expanded=True):
        done = min(p["complete"], run.budget) if run.budget else 0
        frac = done / run.budget if run.budget else 1.0
        best = "-" if p["best"] is None else f"{p['best']:.3g}"
        st.progress(frac, text=f"{p['complete']} trials complete, {p['running']} running, "
                               f"best distance {best}")
    if run.error:
        st.error(run.error)
    if not run.alive and st.session_state.get("shown_run") is not run:
        st.session_state.shown_run = run
        if run.result is not None:
            st.session_state.result = run.result
        st.rerun()


def watch_section() -> None:
    """Open a study by storage and name (e.g. one other workers are running): its progress, its
    trials (refreshed live if asked) and, on demand, its candidates in the browser below."""
    with st.expander("Watch or open a study", expanded=bool(st.session_state.get("watching"))):
        c1, c2 = st.columns(2)
        storage = c1.text_input("Storage", key="watch_storage")
        name = c2.text_input("Study name", key="watch_name")
        live = st.toggle("Refresh every 2 s", key="watch_live")
        if st.button("Show", key="watch"):
            st.session_state.watching = True
        if not st.session_state.get("watching"):
            return
        st.fragment(_watched, run_every=2.0 if live else None)(storage, name)


def _watched(storage: str, name: str) -> None:
    from apps.plots import distance_figure

    try:
        study = studies.load_study(storage, name)
    except ValueError as exc:
        st.session_state.watching = False
        st.error(str(exc))
        return
    p = studies.progress(study)
    c1, c2, c3 = st.columns(3)
    c1.metric("complete trials", p["complete"])
    c2.metric("running", p["running"])
    c3.metric("best distance", "-" if p["best"] is None else f"{p['best']:.3g}")
    frame = studies.trials_frame(study)
    done = frame[frame["state"] == "COMPLETE"]
    if not done.empty:
        st.plotly_chart(distance_figure(done, value="value"), key="watch_plot")
    st.dataframe(frame, hide_index=True, key="watch_table")
    if p["user_attrs"]:
        with st.popover("Study settings"):
            st.json(p["user_attrs"])
    if st.button("Open its candidates below", key="watch_open", disabled=not p["complete"]):
        try:
            from invdesign import DesignResult

            st.session_state.result = DesignResult.from_study(study)
            st.session_state.run_settings = None
            st.rerun(scope="app")
        except (ValueError, OSError) as exc:
            st.error(f"cannot read the study's candidates: {exc}")
