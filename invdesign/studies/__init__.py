"""Study infrastructure of a design: Optuna storage, proposal locks, heartbeats, stale trials,
artifacts and the record each trial keeps. The science (condition space, proposals, measurement)
lives in :mod:`invdesign.loop` and uses these pieces; nothing here knows about it.

Modules: :mod:`.storage` (opening storages by URL), :mod:`.locks` (the proposal lock),
:mod:`.heartbeats` (a process's running trials), :mod:`.stale` (failing and re-queueing dead
processes' trials), :mod:`.artifacts` (atomic, path-safe, hash-checked trial volumes),
:mod:`.records` (:class:`TrialRecord`), :mod:`.study` (stored settings, create or resume) and
:mod:`.optuna_internals` (every use of Optuna's private API, for the pinned Optuna range).
"""
