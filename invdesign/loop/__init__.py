"""The inverse-design loop: condition space, proposals (composite BO and baselines), measurement,
trial execution and ranked results. The study infrastructure it runs on (storage, locks,
heartbeats, stale trials, artifacts, trial records) is :mod:`invdesign.studies`; the modules
``storage``, ``locks``, ``heartbeats``, ``artifacts`` and ``study`` here re-export it."""
