"""Tests for saecourse.concepts: the shipped sentence files, concept files and their errors, and the
activations of texts run one by one."""

import pytest
import torch

from saecourse import concepts, corpus, models


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))


def test_shipped_sentence_files_equal_a_fresh_extraction():
    """The provenance in the files is true: the corpus gives exactly these sentences, works and lines."""
    for stem, texts in concepts.extract_sentences().items():
        assert concepts.read_texts(concepts.CONCEPTS_DIR / f"{stem}.tsv") == texts, f"{stem}.tsv is stale: python -m saecourse.concepts"


def test_every_sentence_is_in_its_work_at_its_line():
    docs = {doc.title: doc for doc in corpus.load_documents() if doc.source in ("bible", "shakespeare")}
    for path in concepts.CONCEPTS_DIR.glob("*.tsv"):
        for text in concepts.read_texts(path)[::25]:
            lines = docs[text.work].text.splitlines()
            passage = " ".join(line.strip() for line in lines[text.line - 1: text.line + 8])
            assert text.text.split()[0] in lines[text.line - 1] and text.text in passage, f"{text} does not start at its line"


def test_course_concepts_are_balanced_and_split_by_document():
    found = concepts.course_concepts()
    assert set(found) == {"bible", "question"}
    assert found["bible"].reading == "tokens" and found["question"].reading == "last"
    val_titles = {doc.title for doc in corpus.get_split("val")}
    for concept in found.values():
        assert len(concept.positive) == len(concept.negative) == 600
        splits_of_work: dict[str, set[str]] = {}
        for text in concept.texts:
            splits_of_work.setdefault(text.work, set()).add(text.split)
            assert (text.split == "test") == (text.work in val_titles), f"{text.work}: test texts are the corpus's val documents"
        assert all(len(s) == 1 for s in splits_of_work.values()), "a work must lie in one split only"
        assert concept.markers


def test_marker_counts_whole_words_and_punctuation():
    bible, question = concepts.course_concepts()["bible"], concepts.course_concepts()["question"]
    assert bible.marker_count("And the LORD said unto thee, thou; thyme and thyself") == 4
    assert question.marker_count("Why? What?? No.") == 3


@pytest.mark.parametrize("content,field", [
    ('description = "x"\npositive = ["a.tsv"]\nnegative = ["a.tsv"]\n', "'name' is missing"),
    ('name = "x"\nnegative = ["a.tsv"]\n', "'positive' is missing"),
    ('name = 3\npositive = ["a.tsv"]\nnegative = ["a.tsv"]\n', "'name' must be a str"),
    ('name = "x"\npositive = []\nnegative = ["a.tsv"]\n', "'positive' must be a non-empty list"),
    ('name = "x"\npositive = ["a.tsv"]\nnegative = ["a.tsv"]\nreading = "first"\n', "'reading' must be one of"),
    ('name = "x"\npositive = ["a.tsv"]\nnegative = ["a.tsv"]\nmarkers = "?"\n', "'markers' must be a list"),
    ('name = "x"\npositive = ["missing.tsv"]\nnegative = ["a.tsv"]\n', "no text file"),
    ('name = "x\npositive = 1\n', "not valid TOML"),
])
def test_a_bad_concept_file_gets_a_message_naming_the_field(tmp_path, content, field):
    concepts.write_texts(tmp_path / "a.tsv", [concepts.LabelledText("Some words here", "Genesis", 3, "train")])
    (tmp_path / "c.toml").write_text(content)
    with pytest.raises(concepts.ConceptError, match=field):
        concepts.load(tmp_path / "c.toml")


def test_a_text_file_with_a_bad_split_is_refused(tmp_path):
    (tmp_path / "a.tsv").write_text("text\twork\tline\tsplit\nSome words\tGenesis\t3\tdev\n")
    with pytest.raises(concepts.ConceptError, match="splits must be in"):
        concepts.read_texts(tmp_path / "a.tsv")


def test_text_activations_equal_each_text_run_alone():
    model, tokenizer = models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)
    texts = ["Where art thou going", "And the LORD spake unto Moses, saying unto him", "Why so", "To be or not to be, that is"]
    store = concepts.collect_text_activations(model, tokenizer, texts, layer=1, batch_size=3, progress=False)
    for i, text in enumerate(texts):
        ids = torch.tensor([corpus.tokenize_document(tokenizer, text)])
        alone = models.residual_stream(model, ids, 1)[0, concepts.SKIP_FIRST:]
        rows = store.text_ids == i
        assert torch.allclose(store.acts[rows], alone, atol=1e-5), f"text {i}: padding changed its activations"
        assert store.positions[rows].tolist() == list(range(concepts.SKIP_FIRST, ids.shape[1]))
        assert store.tokens[rows].tolist() == ids[0, concepts.SKIP_FIRST:].tolist()
        assert store.last[rows].tolist() == [False] * (int(rows.sum()) - 1) + [True]


def test_concept_data_reads_every_token_or_the_last(tmp_path):
    model, tokenizer = models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)
    positive = [concepts.LabelledText("Where art thou going now", "Hamlet", 1, "train"),
                concepts.LabelledText("What is the matter with you", "Hamlet", 9, "test")]
    negative = [concepts.LabelledText("The king is dead and gone", "Hamlet", 5, "validation")]
    texts = ["An unrelated text first", *(t.text for t in positive + negative)]
    store = concepts.collect_text_activations(model, tokenizer, texts, layer=0, progress=False)
    for reading in concepts.READINGS:
        concept = concepts.Concept("x", "", reading, positive, negative)
        data = concepts.concept_data(concept, store, texts)
        mine = store.text_ids >= 1
        if reading == "last":
            mine &= store.last
        assert torch.equal(data.x, store.acts[mine])
        assert data.labels.tolist() == [1.0 if i < 3 else 0.0 for i in store.text_ids[mine].tolist()]
        assert data.split.tolist() == [[0, 2, 1][i - 1] for i in store.text_ids[mine].tolist()]
        if reading == "last":
            assert len(data.x) == 3


def test_cached_text_activations_hit_the_cache(monkeypatch):
    model, tokenizer = models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)
    calls = []
    monkeypatch.setattr(models, "load_model", lambda name: calls.append(name) or (model, tokenizer))
    first = concepts.cached_text_activations(["Where art thou going", "Why so"], "tiny", 1)
    second = concepts.cached_text_activations(["Where art thou going", "Why so"], "tiny", 1)
    assert calls == ["tiny"] and torch.equal(first.acts, second.acts) and second.metadata["model"] == "tiny"
