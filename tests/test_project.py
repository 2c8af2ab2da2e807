"""saecourse.project: project files are checked field by field before anything runs, the pipeline
writes a complete catalog or nothing, and discovery counts texts, not tokens."""

from pathlib import Path

import pytest
import torch

from saecourse import project
from saecourse.concepts import LabelledText
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


def test_per_text_takes_each_latents_largest_code_over_a_texts_rows():
    codes = torch.tensor([[0.0, 1.0], [2.0, 0.0], [1.0, 3.0], [0.0, 0.0]])  # rows of texts 5, 5, 2, 7
    pooled, labels = project.per_text(codes, torch.tensor([5, 5, 2, 7]), torch.tensor([1, 1, 0, 1]))
    assert torch.equal(pooled, torch.tensor([[1.0, 3.0], [2.0, 1.0], [0.0, 0.0]]))  # texts 2, 5, 7
    assert labels.tolist() == [0, 1, 1]


def test_discovery_tests_one_row_per_train_text():
    """Tokens of one text are not independent rows: the student's statistic sees one row per train text."""
    seen = {}

    def discover(codes, labels):
        seen.update(codes=codes, labels=labels)
        d = codes.shape[1]
        return {"rate_pos": torch.zeros(d), "rate_neg": torch.zeros(d), "auroc": torch.full((d,), 0.6),
                "z": torch.arange(d).float(), "p": torch.full((d,), 0.5)}

    text_ids = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])  # four texts, a test text (3) among them
    data = {"split": torch.tensor([0, 0, 0, 0, 0, 0, 2, 2]), "text_ids": text_ids,
            "labels": torch.tensor([1, 1, 1, 0, 0, 1, 1, 1])}
    codes = torch.rand(8, 4)
    found = project._discovery(project.Exercises(discover, None), codes, data, project.Settings())
    assert seen["codes"].shape == (3, 4) and seen["labels"].tolist() == [1, 0, 1]
    assert torch.equal(seen["codes"][0], codes[:3].max(0).values)
    assert found["texts"] == {"positive": 2, "negative": 1} and found["top"].tolist() == [3, 2, 1, 0]


def test_a_text_is_unexplained_only_when_none_of_its_rows_is_explained():
    texts = [LabelledText(f"text {i}", "inline", i + 1, "test") for i in range(3)]
    data = {"text_ids": torch.tensor([0, 0, 1, 1, 2]), "labels": torch.tensor([1, 1, 1, 1, 0]),
            "split": torch.full((5,), 2)}
    silent_rows = torch.tensor([0, 2, 3])  # text 0 has an explained row (1); text 1 has none
    assert project._unexplained_texts(data, silent_rows, texts) == ["text 1"]
