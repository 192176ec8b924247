"""In CI, skips for anything but a missing CUDA device fail the run (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text().replace('pytest_plugins = ("pytester",)\n', "")
TESTS = """
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="needs CUDA")
def test_cuda_marker():
    pass

def test_cuda_inline():
    pytest.skip("no CUDA device here")

def test_postgres():
    pytest.skip("no test PostgreSQL: set INVDESIGN_TEST_PG_URL")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False
"""
MODULE_SKIP = """
import pytest
pytest.skip("no chromium at /usr/bin/chromium", allow_module_level=True)

def test_browser():
    pass
"""
IMPORT_SKIP = """
import pytest
pytest.importorskip("no_such_dashboard_extra")

def test_dashboard():
    pass
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=TESTS, test_browser=MODULE_SKIP, test_extra=IMPORT_SKIP)
    return pytester


@pytest.mark.parametrize("env", [{"CI": "true"}, {"INVDESIGN_STRICT_SKIPS": "1"}])
def test_ci_turns_non_cuda_skips_into_failures(suite, monkeypatch, env):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("INVDESIGN_STRICT_SKIPS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = suite.runpytest("-p", "no:cacheprovider", "-rA")
    outcomes = result.parseoutcomes()
    # CUDA skips stay skips, the PostgreSQL skip fails, the two skipped modules fail the run
    assert outcomes.get("passed") == 1 and outcomes.get("xfailed") == 1 and outcomes.get("failed") == 1
    assert outcomes.get("skipped") == 4  # 2 CUDA tests + 2 modules (listed below)
    text = result.stdout.str()
    assert "FAILED test_a.py::test_postgres" in text and "INVDESIGN_TEST_PG_URL" in text
    section = text[text.index("= skipped in CI"):]
    assert "test_browser.py: Skipped: no chromium" in section
    assert "test_extra.py: Skipped: could not import 'no_such_dashboard_extra'" in section
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_skipped_module_alone_fails_the_run(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_browser=MODULE_SKIP, test_ok="def test_ok():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.parseoutcomes().get("passed") == 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_locally_skips_stay_skips(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("INVDESIGN_STRICT_SKIPS", raising=False)
    result = suite.runpytest("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("skipped") == 5 and "failed" not in outcomes
    assert result.ret == 0
    monkeypatch.setenv("CI", "false")
    assert suite.runpytest("-p", "no:cacheprovider").ret == 0
