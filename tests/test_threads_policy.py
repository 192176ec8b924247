"""invdesign.threads: the design's thread count from the free cores, the option and the environment."""

import pytest
import torch
from typer.testing import CliRunner

from invdesign import design
from invdesign import threads as policy_mod
from invdesign.threads import ThreadPolicy, parse_threads
from objectives.threads import set_threads
from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch


@pytest.fixture(autouse=True)
def keep_count(monkeypatch):
    monkeypatch.delenv(policy_mod.ENV, raising=False)
    before = torch.get_num_threads()
    set_threads(3)
    yield
    set_threads(before)


class Machine:
    """Scripted samples: ``busy`` cores used by others; each sample advances the clock 20 s."""

    def __init__(self, cores, busy):
        self.cores, self.busy, self.t, self.jiffies = cores, list(busy), 0.0, 0.0

    def sample(self):
        load = self.busy[0] if len(self.busy) == 1 else self.busy.pop(0)
        self.t += 20.0
        self.jiffies += 20.0 * load
        return policy_mod._Sample(self.t, self.jiffies, 0.0)


def use(monkeypatch, cores, busy):
    m = Machine(cores, busy)
    monkeypatch.setattr(policy_mod, "_sample", m.sample)
    monkeypatch.setattr(policy_mod, "usable_cores", lambda: cores)
    monkeypatch.setattr(policy_mod.time, "sleep", lambda s: None)
    return m


@pytest.mark.parametrize("value, want", [(None, None), (0, None), ("auto", None), (" AUTO ", None),
                                         ("", None), (2, 2), ("3", 3)])
def test_parse_threads(value, want):
    assert parse_threads(value) == want


@pytest.mark.parametrize("value", [-1, "two", 1.5, "-3"])
def test_parse_threads_refuses(value):
    with pytest.raises(ValueError, match="positive integer or 'auto'"):
        parse_threads(value)


@pytest.mark.parametrize("cores, busy, want", [(2, [2.0], 1), (2, [0.0], 2), (2, [0.6], 1),
                                               (2, [0.4], 2), (1, [0.0], 1), (16, [3.2], 13),
                                               (4, [9.0], 1)])
def test_auto_uses_the_free_cores(monkeypatch, cores, busy, want):
    use(monkeypatch, cores, busy)
    with ThreadPolicy() as p:
        assert p.source == "auto" and p.threads == want
        assert torch.get_num_threads() == want
    assert torch.get_num_threads() == 3  # put back


def test_option_beats_environment_beats_auto(monkeypatch):
    use(monkeypatch, 2, [2.0])
    monkeypatch.setenv(policy_mod.ENV, "2")
    assert ThreadPolicy().pick() == 2 and ThreadPolicy().source == "environment"
    assert ThreadPolicy(1).pick() == 1 and ThreadPolicy(1).source == "option"
    monkeypatch.setenv(policy_mod.ENV, "auto")
    assert ThreadPolicy().pick() == 1
    monkeypatch.setenv(policy_mod.ENV, "many")
    with pytest.raises(ValueError, match="INVDESIGN_THREADS='many'"):
        ThreadPolicy()


def test_refresh_follows_the_load_while_running(monkeypatch):
    use(monkeypatch, 2, [0.0, 0.0, 2.0, 2.0, 0.0])
    with ThreadPolicy(recheck_s=10) as p:
        assert p.threads == 2
        assert policy_mod.refresh() == 1 and torch.get_num_threads() == 1  # another job started
        assert policy_mod.refresh() == 1
        assert policy_mod.refresh() == 2 and torch.get_num_threads() == 2  # it ended
    assert policy_mod.refresh() is None  # no design running in this thread
    assert torch.get_num_threads() == 3


def test_design_runs_on_the_chosen_threads_and_puts_the_count_back(monkeypatch, tmp_path):
    seen = []

    def describe(volumes, periodic=False):
        seen.append(torch.get_num_threads())
        return fake_describe_batch(volumes, periodic)

    use(monkeypatch, 2, [0.0, 0.0, 0.0, 2.0])  # the load rises during the run: re-checked per trial
    design({"ABS_f_D": 0.5}, 0.05, model=BiasedFakeGenerator(), budget=3, samples_per_trial=1,
           method="random", out_dir=tmp_path / "a", describe=describe)
    assert seen[1:] == [2, 1, 1]  # seen[0]: the probe of measurable names
    assert torch.get_num_threads() == 3
    seen.clear()
    design({"ABS_f_D": 0.5}, 0.05, model=BiasedFakeGenerator(), budget=2, samples_per_trial=1,
           method="random", out_dir=tmp_path / "b", describe=describe, threads=2)
    assert seen == [2, 2, 2]
    assert torch.get_num_threads() == 3
    with pytest.raises(ValueError, match="threads must be"):
        design({"ABS_f_D": 0.5}, 0.05, model=BiasedFakeGenerator(), budget=1, out_dir=tmp_path / "c",
               describe=describe, threads="lots")


def test_cli_threads_option(monkeypatch, tmp_path):
    import generators
    import objectives
    from invdesign.cli.main import app

    monkeypatch.setattr(generators, "load", lambda name, device="cpu": BiasedFakeGenerator(device))
    monkeypatch.setattr(objectives, "describe_batch", fake_describe_batch)
    args = ["design", "--model", "fake", "-t", "ABS_f_D=0.5", "--budget", "1", "--samples", "1",
            "--method", "random", "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(app, args + ["--threads", "two"])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    r = CliRunner().invoke(app, args + ["--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 3


def test_worker_cli_refuses_a_bad_threads_value(tmp_path):
    from invdesign.cli.main import app

    r = CliRunner().invoke(app, ["worker", "--storage", str(tmp_path / "none.journal"), "--study-name",
                                 "s", "--threads", "-2"])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "threads must be" in r.output


def test_cgroup_quota_and_proc_stat_are_read_right(tmp_path):
    import os

    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert policy_mod._cgroup_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert policy_mod._cgroup_quota(tmp_path) == 2.5
    (tmp_path / "cpu.max").write_text("20000 100000\n")
    assert policy_mod._cgroup_quota(tmp_path) == 1.0  # never below one core
    (tmp_path / "cpu.max").write_text("nonsense\n")
    assert policy_mod._cgroup_quota(tmp_path) is None
    assert policy_mod._cgroup_quota(tmp_path / "absent") is None
    hz = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\n"
                    f"cpu0 {hz} 0 {hz} 500 70 0 0 0 0 0\n"
                    f"cpu1 0 {hz} 0 500 70 {hz} 0 {hz} 0 0\n"
                    f"cpu2 {5 * hz} 0 0 500 70 0 0 0 0 0\nintr 1 2 3\n")
    assert policy_mod._busy_jiffies({0, 1}, stat) == pytest.approx(5.0)  # idle, iowait left out
    assert policy_mod._busy_jiffies(None, stat) == pytest.approx(10.0)
    assert policy_mod._busy_jiffies({7}, stat) is None
    a, b = policy_mod._Sample(0.0, 100.0, 1.0), policy_mod._Sample(2.0, 104.0, 2.0)
    assert policy_mod._busy_between(a, b) == pytest.approx(1.5)  # 2 cores busy, 0.5 of them us
