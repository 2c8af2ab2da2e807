"""Every grader test must fail a plausible wrong answer: each one (tests/wrong_answers/<part>.toml) is
the reference notebook with one mistake made in place (tests/mutation.py), and must lose the points
of the tests it targets, by failing them, not by crashing.

The fixtures are the repository's own code, so each part's are graded by one warm, confined
submission process (``grader.warm``) that forks a fresh child per fixture; the graded tests, the
judge and the child's bounds are those of any submission."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import answers, sandbox
from grader.framework import REPO, graded_tests, parts
from grader.limits import SubmissionLimits
from grader.run import grade_part
from grader.warm import WarmBox, WarmServer
from saecourse.cells import definition_sources, read_cells
from tests.conftest import make_submission
from tests.mutation import Stale, Wrong, mutate, wrong_answers

WARM_AT_ONCE = 2  # warm servers one test process keeps (each holds torch and its part's imports)

MIN_FIXTURES = {"part1_toy_superposition": 19, "part2_training_saes": 27, "part3_interpreting_features": 36,
                "part4_validating_features": 24, "part5_comparing_methods": 26,
                "part6_feature_splitting": 30, "part7_project_template": 12}


@pytest.mark.parametrize("part", parts())
def test_enough_wrong_answers(part):
    names = [w.name for w in wrong_answers() if w.part == part]
    assert len(names) >= MIN_FIXTURES.get(part, 3)
    assert len(set(names)) == len(names), "two wrong answers share a name"


@pytest.mark.parametrize("part", parts())
def test_every_wrong_answer_targets_real_tests_and_applies(part):
    """Each targets graded tests of its part, states its mistake, and its reference text occurs
    exactly once (else Stale: the reference changed under it); the result is valid Python."""
    names = {t.name for t in graded_tests(part)}
    for w in wrong_answers():
        if w.part == part:
            assert w.tests and set(w.tests) <= names, f"{w.name} targets unknown tests"
            assert len(w.mistake) > 10, f"{w.name} does not say what its mistake is"
            compile(w.source(), w.name, "exec")


def test_a_stale_wrong_answer_fails_loudly():
    text = "def f(x):\n    y = x + 1\n    return y\n\ndef g(x):\n    return x + 1\n"
    assert mutate(text, "f", "x + 1", "x - 1") == text.replace("y = x + 1", "y = x - 1")
    assert "    return -y\n" in mutate(text, "f", "y = x + 1\nreturn y", "return -y")
    for where, old in (("f", "x * 2"), ("f", "y"), ("h", "x"), ("f", "y = x + 2\nreturn y")):
        with pytest.raises(Stale):
            mutate(text, where, old, "")
    with pytest.raises(Stale, match="occurs 0 times"):
        Wrong("gone", "generate_batch", "no such text", "", "test_generate_batch_values", "a mistake in text that is gone",
              part="part1_toy_superposition").source()


@pytest.fixture(scope="module")
def warm_server():
    """``warm_server(part)``: this test process's warm server for ``part``, started when first asked for."""
    servers: dict[str, WarmServer] = {}

    def server(part: str) -> WarmServer:
        if part not in servers:
            while len(servers) >= WARM_AT_ONCE:
                servers.pop(next(iter(servers))).close()
            servers[part] = WarmServer(part, definition_sources(read_cells(REPO / "solutions" / f"{part}.py")))
        return servers[part]

    yield server
    for started in servers.values():
        started.close()


@pytest.mark.parametrize("wrong", wrong_answers(), ids=lambda w: f"{w.part}-{w.name}")
def test_wrong_answer_loses_its_points(wrong, tmp_path, warm_server):
    folder = make_submission(tmp_path / wrong.name, wrong.part, text=wrong.source())
    result = grade_part(wrong.part, folder / f"{wrong.part}.py", keyword=" or ".join(wrong.tests),
                        warm=warm_server(wrong.part).address)
    outcome = {t.name: t for t in result.tests}
    for name in wrong.tests:
        assert name in outcome, f"{name} did not run"
        assert outcome[name].score == 0, f"{wrong.name} ({wrong.mistake}): {name} still gave {outcome[name].score} points"
        assert "not graded" not in outcome[name].output, f"{name} crashed instead of failing: {outcome[name].output}"


def test_a_warm_child_is_confined_and_bounded_like_a_submission(warm_server):
    """A fixture graded warm sees what a submission sees (no reference source, solutions/, grader/ or answer key; the
    part's hidden helpers empty), runs in its own scratch folder with the submission's memory bound, and
    the judge finds, counts and kills it by its pid outside the sandbox."""
    part = parts()[0]
    secrets = [REPO / "course" / f"{part}.py", REPO / "solutions", REPO / "grader", answers.key_path(part)]
    probe = ("import os, resource\n"
             f"seen = [os.path.exists(p) for p in {[str(p) for p in secrets]!r}]\n"
             f"hidden = [os.path.getsize(p) for p in {[str(p) for p in sandbox.hidden_for(part)]!r}]\n"
             "where, memory = os.getcwd(), resource.getrlimit(resource.RLIMIT_AS)[0]")
    limits = SubmissionLimits(hidden=tuple(sandbox.hidden_for(part)))
    box = WarmBox([probe], limits, warm_server(part).address)
    try:
        root = box.root()
        assert root.seen == [False] * len(secrets), dict(zip(map(str, secrets), root.seen))
        assert root.hidden and not any(root.hidden), "the part's hidden helpers are readable"
        assert root.where == str(box.scratch) and root.memory == int(limits.memory_gb * 2**30)
        pid = box.proc.pid  # the child's pid here, outside the sandbox's pid namespace
        assert box._threads() >= 1 and "gradebox" in Path(f"/proc/{pid}/cmdline").read_text()
        box.kill()  # its process group, then the server's report that it ended
        assert box.proc is None and not Path(f"/proc/{pid}").exists()
    finally:
        box.close()
