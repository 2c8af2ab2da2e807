"""The trust boundary: what crosses between the judge and a submission, the answer key, the
notebook's ``check()`` path, and scores that do not change from run to run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from gradebox import wire
from grader import answers
from grader.framework import REPO
from grader.run import Limits, grade_part
from grader.sandbox import readable_paths
from saecourse.cells import read_cells
from tests.conftest import make_submission
from tests.mutation import wrong_answer

P1 = "part1_toy_superposition"


class Liar(torch.Tensor):
    def __eq__(self, other):
        return True


def test_wire_sends_only_data_and_handles():
    value = {"t": torch.arange(6.0).view(2, 3).as_subclass(Liar), "n": 3, "x": 1.5, "s": (1, [None, True]),
             "size": torch.Size([2, 3]), 4: "int key"}
    back = wire.decode(wire.encode(value))
    assert type(back["t"]) is torch.Tensor and torch.equal(back["t"], torch.arange(6.0).view(2, 3))
    assert back["s"] == (1, [None, True]) and back["size"] == (2, 3) and back[4] == "int key"
    handles = []
    model = torch.nn.Linear(2, 2)
    sent = wire.decode(wire.encode([model, torch.ones(1)], lambda obj: handles.append(obj) or wire.Handle(7, "Linear")))
    assert handles == [model] and isinstance(sent[0], wire.Handle) and sent[0].type == "Linear"
    with pytest.raises(wire.WireError):
        wire.encode(model)  # the judge never sends an object of its own
    with pytest.raises(wire.WireError):
        wire.encode(torch.zeros(2, device="meta"))
    with pytest.raises(wire.WireError):
        wire.decode(b"\x00" * 16 + b"garbage")


def test_answer_key_is_built_once_and_hidden_from_the_submission():
    path = answers.build(P1)
    assert path.exists() and answers.course_hash()[:16] in path.name
    stamp = path.stat().st_mtime_ns
    answers.build(P1)
    assert path.stat().st_mtime_ns == stamp, "the key was rebuilt for the same course version"
    assert not any(path.is_relative_to(p) for p in readable_paths()), "the sandbox can read the answer key"
    assert not any(p.is_relative_to(REPO / d) for p in readable_paths() for d in ("course/part1_toy_superposition.py",
                                                                                      "solutions", "grader", "tests"))


def test_same_submission_same_score_three_times(tmp_path):
    folder = make_submission(tmp_path / "sub", P1, text=wrong_answer(P1, "no_output_relu").source())
    keyword = "test_toy_model_forward or test_training_reaches_reference_loss or test_generate_batch_values"
    runs = [grade_part(P1, folder / f"{P1}.py", Limits(), keyword) for _ in range(3)]
    outcomes = [[(t.name, t.score, t.output) for t in run.tests] for run in runs]
    assert outcomes[0] == outcomes[1] == outcomes[2], outcomes
    assert 0 < runs[0].score < runs[0].max_score


NOTEBOOK = """
import sys, types
from saecourse.cells import definition_sources, read_cells
from gradebox import CheckFailed
for source in ("solutions", "student"):
    namespace = types.ModuleType("__main__").__dict__
    for cell in definition_sources(read_cells(f"{source}/part1_toy_superposition.py")):
        exec(cell, namespace)
    try:
        exec('check("test_importance_weighted_loss")', namespace)
    except CheckFailed as err:
        print("FAILED", str(err).splitlines()[0])
print("LOADED", sorted(m for m in sys.modules if m.startswith(("grader.parts", "reference_", "grader.framework"))))
"""


def test_notebook_check_asks_the_judge_and_never_holds_the_answers():
    """``check()`` in a notebook: the judge runs in its own process and asks the notebook for its
    outputs; the notebook's process never imports the reference or the graded tests."""
    run = subprocess.run([sys.executable, "-c", NOTEBOOK], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert any("test_importance_weighted_loss passed" in line for line in lines), run.stdout
    assert "FAILED test_importance_weighted_loss failed: not implemented yet: importance_weighted_loss raises NotImplementedError" in lines
    assert lines[-1] == "LOADED []", lines[-1]


SLOW_NOTEBOOK = """
import time, types
from saecourse.cells import definition_sources, read_cells
from gradebox import CheckFailed
namespace = types.ModuleType("__main__").__dict__
for cell in definition_sources(read_cells("solutions/part1_toy_superposition.py")):
    exec(cell, namespace)
fast = namespace["generate_batch"]
namespace["generate_batch"] = lambda *args, **kwargs: time.sleep(6) or fast(*args, **kwargs)
start = time.monotonic()
try:
    exec('check("test_generate_batch_values")', namespace)
except CheckFailed as err:
    print("FAILED", " ".join(str(err).split()))
print(f"WAITED {time.monotonic() - start:.1f}")
namespace["generate_batch"] = fast
exec('check("test_generate_batch_values")', namespace)
"""


def test_notebook_check_gives_a_slow_call_the_tests_time_limit():
    """Behind ``check()`` a call into the notebook gets the test's time limit, as in the grader: past it
    the judge fails the test and stops reading (the late reply would be read as the next one's); the
    student's kernel finishes the call, reports the failure, and the next ``check()`` gets a new judge."""
    env = {**os.environ, "GRADER_TEST_SECONDS": "2"}
    run = subprocess.run([sys.executable, "-c", SLOW_NOTEBOOK], capture_output=True, text=True, cwd=REPO, timeout=300,
                         env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    failed = next(line for line in run.stdout.splitlines() if line.startswith("FAILED"))
    assert "did not finish within the test's time limit" in failed and "the check stopped waiting" in failed, failed
    assert any("test_generate_batch_values passed" in line for line in run.stdout.splitlines()), run.stdout


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for folder in ("course", "solutions", "student")
                                        for p in (REPO / folder).glob("part*.*")))
def test_cell_reader_agrees_with_jupytext(path):
    """The judge reads notebooks without jupytext (2 s less per process); it must read them the same."""
    import jupytext

    def comparable(cells):
        return [(c["cell_type"], c["source"], {k: v for k, v in c["metadata"].items() if k != "lines_to_next_cell"})
                for c in cells]

    assert comparable(read_cells(REPO / path)) == comparable(jupytext.read(REPO / path)["cells"])
