"""saecourse.project: project files are checked field by field before anything runs, and the pipeline
writes a complete catalog or nothing."""

from pathlib import Path

import pytest

from saecourse import project
from saecourse.project import ProjectError, load_project

EXAMPLE = project.PROJECTS_DIR / "question.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "concept.toml"
    path.write_text(text)
    return path


INLINE = 'positive_texts = [{pos}]\nnegative_texts = [{neg}]\nprompts = ["Once upon a time"]\n'.format(
    pos=", ".join(f'"Is it raining in town number {i}"' for i in range(30)),
    neg=", ".join(f'"It is raining in town number {i}"' for i in range(30)))


def test_the_worked_example_loads():
    loaded = load_project(EXAMPLE)
    assert loaded.name == "question" and loaded.concept.reading == "last"
    assert len(loaded.concept.positive) == len(loaded.concept.negative) == 600 and loaded.prompts
    assert loaded.settings == project.Settings(sae="reference", top=16, alpha=0.01)


def test_the_blank_template_names_what_to_fill_in():
    with pytest.raises(ProjectError, match=r"fill in \['name', 'description', 'prompts'\]"):
        load_project(project.PROJECTS_DIR / "blank.toml")


def test_inline_texts_are_split_by_hash(tmp_path):
    loaded = load_project(write(tmp_path, 'name = "rain"\n' + INLINE))
    splits = [t.split for t in loaded.concept.positive]
    assert set(splits) == {"train", "validation", "test"}
    assert splits == [project.inline_split(t.text) for t in loaded.concept.positive]


@pytest.mark.parametrize("text, field", [
    (INLINE, "'name'"),
    ('name = "Rain Drops"\n' + INLINE, "'name'"),
    ('name = "rain"\nreading = "first"\n' + INLINE, "'reading'"),
    ('name = "rain"\nprompts = ["x"]\n', "'positive'"),
    ('name = "rain"\n' + INLINE.replace('prompts = ["Once upon a time"]', "prompts = []"), "'prompts'"),
    ('name = "rain"\n' + INLINE + 'markers = [1]\n', "'markers'"),
    ('name = "rain"\n' + INLINE + 'colour = "red"\n', "colour"),
    ('name = "rain"\n' + INLINE + '[settings]\ntop = 0\n', "'settings.top'"),
    ('name = "rain"\n' + INLINE + '[settings]\nalpha = 2.0\n', "'settings.alpha'"),
    ('name = "rain"\n' + INLINE + '[settings]\nsae = "nowhere"\n', "'settings.sae'"),
    ('name = "rain"\n' + INLINE + '[settings]\nlayer = "x"\n', "'settings.layer'"),
    ('name = "rain"\n' + INLINE + '[settings]\nwidth = 3\n', "width"),
    ('name = "rain"\npositive = ["missing.tsv"]\nnegative_texts = ["a"]\nprompts = ["x"]\n', "missing.tsv"),
    ('name = "rain"\npositive_texts = ["one text"]\nnegative_texts = ["another"]\nprompts = ["x"]\n', "split"),
    ('name = "rain\n', "not valid TOML"),
])
def test_a_bad_field_is_named(tmp_path, text, field):
    with pytest.raises(ProjectError) as error:
        load_project(write(tmp_path, text))
    assert field in str(error.value)


def test_the_command_line_reports_a_bad_config_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert project.main([str(write(tmp_path, 'name = "rain"\n')), "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err and not out.exists()
