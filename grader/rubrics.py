"""``python -m grader.rubrics [--out build/rubrics.md]``: the written questions and how each is graded by hand.

A written question is a markdown answer cell of a course notebook (nbgrader ``grade`` and
``solution``, graded by hand). Its text holds the question and its rubric, which students and the
person grading both see (nbgrader's formgrader shows the cell as submitted)::

    **Question 7.2 (written, graded by hand).** Explain why ...

    **Rubric (3 points).**
    - 1 point: the hidden ReLU confines features to ...
    - 2 points: ...

    ### BEGIN SOLUTION
    *Model answer.* ...
    ### END SOLUTION

and its solution region a model answer, which the student version replaces (nbgrader's
``ClearSolutions``). The points of the rubric's bullets add up to the cell's nbgrader points
(``tests/test_gates.py`` checks it). The instructors' material is this module's output: every
question with its points, rubric and model answer, written into ``build/rubrics.md`` and into the
Gradescope zip (``rubrics.md``), whose results list the questions to grade by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.framework import REPO, parts

RUBRIC = re.compile(r"^\*\*Rubric \((\d+) points?\)\.\*\*\s*$", re.M)
BULLET = re.compile(r"^- (\d+) points?: (.+)$")
TITLE = re.compile(r"^\*\*(Question [^*]+?)\.?\*\*")
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


@dataclass(frozen=True)
class WrittenQuestion:
    """One question graded by hand, as the course's source states it."""

    part: str
    grade_id: str
    title: str  # "Question 7.2 (written, graded by hand)"
    points: int  # the cell's nbgrader points
    question: str  # the cell's text before the rubric
    rubric_points: int | None  # N of "**Rubric (N points).**", None when the cell has no rubric
    criteria: tuple[tuple[int, str], ...]  # (points, what earns them), one per bullet
    model_answer: str  # the solution region


def is_written_question(cell) -> bool:
    """A markdown cell that nbgrader grades by hand (grade and solution set)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution")


def parse(part: str, cell) -> WrittenQuestion:
    """Read a written-question cell into its question, rubric and model answer."""
    source = cell.source
    solution = SOLUTION.search(source)
    visible = SOLUTION.sub("", source)
    rubric = RUBRIC.search(visible)
    question = visible[: rubric.start()] if rubric else visible
    criteria = []
    if rubric:
        for line in visible[rubric.end():].strip().splitlines():
            if not (bullet := BULLET.match(line.strip())):
                break
            criteria.append((int(bullet.group(1)), bullet.group(2).strip()))
    title = TITLE.match(question.strip())
    return WrittenQuestion(
        part=part, grade_id=cell.metadata["nbgrader"]["grade_id"],
        title=title.group(1) if title else cell.metadata["nbgrader"]["grade_id"],
        points=int(cell.metadata["nbgrader"].get("points", 0)), question=question.strip(),
        rubric_points=int(rubric.group(1)) if rubric else None, criteria=tuple(criteria),
        model_answer=solution.group(1).strip() if solution else "")


def written_questions(part: str) -> list[WrittenQuestion]:
    """The questions of ``part`` that are graded by hand, in notebook order."""
    from grader.build import read_source

    return [parse(part, cell) for cell in read_source(part).cells if is_written_question(cell)]


def problems(question: WrittenQuestion) -> list[str]:
    """What is wrong with a question's rubric (empty when it is sound)."""
    where = f"{question.part}, {question.grade_id}"
    if question.rubric_points is None:
        return [f"{where}: no '**Rubric (N points).**' line outside the solution region"]
    found = []
    if question.rubric_points != question.points:
        found.append(f"{where}: the rubric says {question.rubric_points} points, the cell is worth {question.points}")
    if sum(points for points, _ in question.criteria) != question.points:
        found.append(f"{where}: the rubric's bullets add up to {sum(p for p, _ in question.criteria)} points, "
                     f"the cell is worth {question.points}")
    if not question.model_answer.startswith("*Model answer.*"):
        found.append(f"{where}: the solution region must start with '*Model answer.*'")
    return found


def markdown(selected: list[str] | None = None) -> str:
    """The instructors' rubric document: every written question with its points, rubric and model answer."""
    lines = ["# Written questions, graded by hand", "",
             "Generated from `course/` by `python -m grader.rubrics`. Add each question to the assignment as a",
             "manually graded question with the points given; students see the question and the rubric in",
             "their notebook, not the model answer.", ""]
    for part in selected or parts():
        for q in written_questions(part):
            lines += [f"## {part}: {q.title} ({q.points} points, `{q.grade_id}`)", "", q.question, "",
                      "**Rubric.**", *[f"- {p} point{'s' * (p != 1)}: {text}" for p, text in q.criteria], "",
                      q.model_answer, ""]
    return "\n".join(lines)


def manual_points() -> dict[str, int]:
    """Points graded by hand, per part (parts without written questions are left out)."""
    totals = {part: sum(q.points for q in written_questions(part)) for part in parts()}
    return {part: points for part, points in totals.items() if points}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.rubrics", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "rubrics.md")
    args = parser.parse_args(argv)
    found = [problem for part in parts() for q in written_questions(part) for problem in problems(q)]
    if found:
        print("\n".join(found), file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown())
    count = sum(len(written_questions(part)) for part in parts())
    print(f"{count} written questions ({sum(manual_points().values())} points) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
