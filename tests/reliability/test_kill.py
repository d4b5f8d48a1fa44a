"""SIGKILL ``citebot index`` (a real subprocess) mid-build: the previous version or the complete new
one, never a mix, and the next build succeeds. CI variant of ``tests/tools/kill_trials.py`` (30
documents): one random moment (three with --run-slow), plus the most delicate step boundary (the
version folder renamed into place, CURRENT not yet pointing at it). The full run adds 17 more random
moments and every other step boundary.

Every trial is a real ``citebot index`` process (interpreter, torch and model load, ~6 s idle), so the
module is ``heavy``: in the full suite, not in the quick tier.
"""

from __future__ import annotations

import random

import pytest

import kill_trials as kt  # tests/tools

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def experiment(encoder, tmp_path_factory):
    # the subprocesses run with CITEBOT_PRECISION=fp32, as this folder's encoder
    assert encoder.precision == kt.PRECISION
    return kt.Experiment(tmp_path_factory.mktemp("kill"), n_docs=30, encoder=encoder)


def test_reference_builds_differ(experiment):
    """The trials can tell A from B: several questions are answered differently."""
    assert experiment.differing >= 3
    assert experiment.ref_run["build_seconds"] and experiment.ref_run["code"] == 0


@pytest.mark.parametrize("i", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_random_kill(experiment, i):
    t = experiment.random_trial(i, random.Random(1000 + i))
    assert t["outcome"] in ("old", "new"), t
    assert t["next_build_ok"], t


@pytest.mark.parametrize("phase", ["after-rename"])
def test_kill_at_step_boundary(experiment, phase):
    t = experiment.phase_trial(phase)
    assert t["killed"], t
    assert t["outcome"] == kt.PHASES[phase], t
    assert t["next_build_ok"], t
