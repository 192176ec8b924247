"""Test-run policy: in CI a skip is a failure unless its reason is a missing CUDA device.

CI (``.ci/run``) provides everything else the tests use: the reference data (in ``tests/data``),
PostgreSQL, chromium and the dashboard extras. A test that skips there for lack of one of them
would turn a broken set-up into a green run, so with ``CI`` set to a true value (``1``, ``true``,
``yes``) or ``INVDESIGN_STRICT_SKIPS=1`` every skip whose reason does not mention CUDA is reported
as a failure; a whole module skipped that way (e.g. the browser test without chromium) is listed
at the end and fails the run, after every other test has run. Locally, skips stay skips, each
with its reason.
"""

from __future__ import annotations

import os
import re

import pytest

pytest_plugins = ("pytester",)

#: Skip reasons CI may report: the CI machines have no GPU.
ALLOWED_IN_CI = re.compile(r"\bcuda\b", re.IGNORECASE)


def strict_skips() -> bool:
    """Whether skips other than CUDA's fail this run (``CI`` or ``INVDESIGN_STRICT_SKIPS``)."""
    truthy = ("1", "true", "yes")
    return (os.environ.get("CI", "").strip().lower() in truthy
            or os.environ.get("INVDESIGN_STRICT_SKIPS", "").strip().lower() in truthy)


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _not_allowed(report) -> str | None:
    """The reason of a skip that CI must not have, else None."""
    if report.skipped and strict_skips() and not hasattr(report, "wasxfail"):
        reason = _reason(report)
        if not ALLOWED_IN_CI.search(reason):
            return reason
    return None


_SKIPPED_MODULES: list[str] = []
MESSAGE = "skipped in CI, which must provide what this test needs (only a missing CUDA device may skip there)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    reason = _not_allowed(report)
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = f"{MESSAGE}: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    reason = _not_allowed(report)
    if reason is not None:
        _SKIPPED_MODULES.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _SKIPPED_MODULES:
        terminalreporter.section(MESSAGE, red=True)
        for line in _SKIPPED_MODULES:
            terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _SKIPPED_MODULES and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
