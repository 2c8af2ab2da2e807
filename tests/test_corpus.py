"""Tests for saecourse.corpus: documents, the split, contexts and their provenance."""

import random
import re

import pytest
import torch

from saecourse import corpus, models


@pytest.fixture(scope="module")
def docs():
    return corpus.load_documents()


@pytest.fixture(scope="module")
def tokenizer():
    return models.gpt2_tokenizer()


@pytest.fixture(scope="module")
def small_docs(docs):
    """Up to three documents of 3000-15000 characters from each source: quick to tokenise."""
    picked = []
    for source in corpus.SOURCES:
        picked += [doc for doc in docs if doc.source == source and 3000 < len(doc.text) < 15000][:3]
    return picked


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))


def test_documents_have_stable_ids_and_order(docs):
    assert [doc.doc_id for doc in docs] == list(range(len(docs)))
    sources = [doc.source for doc in docs]
    assert sources == sorted(sources, key=corpus.SOURCES.index), "sources must come in SOURCES order"
    counts = {source: sources.count(source) for source in corpus.SOURCES}
    assert counts["shakespeare"] == 42 and counts["bible"] == 66 and counts["pydoc"] >= 70
    assert docs[0].title == "All's Well That Ends Well"
    genesis = next(doc for doc in docs if doc.source == "bible")
    assert genesis.text.startswith("Genesis\n\n1:1 In the beginning God created the heaven and the earth.\n")
    assert corpus.load_documents() == docs


def test_one_modern_edition_per_play(docs):
    titles = [doc.title for doc in docs if doc.source == "shakespeare"]
    assert len(titles) == len(set(titles))
    hamlet = next(doc for doc in docs if doc.title == "Hamlet")
    assert "Who's there?" in hamlet.text
    assert "vnfold" not in hamlet.text, "the First Folio edition slipped in"


def test_boilerplate_and_layout_are_clean(docs):
    for doc in docs:
        assert len(doc.text) >= corpus.MIN_CHARS
        for marker in ("Project Gutenberg", "START OF", "END OF THE PROJECT", "*** ", "\n\n\n"):
            assert marker not in doc.text, f"{marker!r} in {doc.source}/{doc.title}"
        assert not doc.text.endswith("THE END"), doc.title
        assert not re.search(r"[ \t]\n", doc.text), f"trailing whitespace in {doc.title}"
    for doc in docs:
        if doc.source == "pydoc":
            assert not re.search(r"^\*{3,}$", doc.text, re.MULTILINE), f"heading underline in {doc.title}"


def test_split_is_by_document_deterministic_and_covers_every_source(docs):
    train, val = corpus.split_documents(docs)
    shuffled = random.Random(0).sample(docs, len(docs))
    train2, val2 = corpus.split_documents(shuffled)
    assert {d.doc_id for d in val2} == {d.doc_id for d in val}, "the split must not depend on order"
    assert {d.doc_id for d in train}.isdisjoint(d.doc_id for d in val)
    assert len(train) + len(val) == len(docs)
    for source in corpus.SOURCES:
        assert any(d.source == source for d in train) and any(d.source == source for d in val)
    assert 0.07 < len(val) / len(docs) < 0.13
    assert corpus.get_split("val") == val
    with pytest.raises(ValueError, match="train"):
        corpus.get_split("test")


def test_contexts_never_cross_documents_and_map_back(small_docs, tokenizer):
    ctx_len = 64
    contexts = corpus.make_contexts(small_docs, tokenizer, ctx_len=ctx_len)
    by_id = {doc.doc_id: corpus.tokenize_document(tokenizer, doc.text) for doc in small_docs}
    assert contexts.tokens.shape == (len(contexts), ctx_len) and contexts.tokens.dtype == torch.long
    assert len(contexts) == sum(len(ids) // ctx_len for ids in by_id.values())
    rows = zip(contexts.tokens.tolist(), contexts.doc_ids.tolist(), contexts.starts.tolist())
    for tokens, doc_id, start in rows:
        doc_tokens = by_id[doc_id]
        assert start % ctx_len == 0 and start + ctx_len <= len(doc_tokens)
        assert tokens == doc_tokens[start : start + ctx_len]


def test_contexts_are_shuffled_seeded_capped_and_cached(small_docs, tokenizer, monkeypatch):
    contexts = corpus.make_contexts(small_docs, tokenizer, ctx_len=64)
    first_half = contexts.doc_ids[: len(contexts) // 2].tolist()
    assert {doc.source for doc in small_docs if doc.doc_id in first_half} == set(corpus.SOURCES)
    assert list(contexts.doc_ids) != sorted(contexts.doc_ids), "contexts were not shuffled"
    other_seed = corpus.make_contexts(small_docs, tokenizer, ctx_len=64, seed=1)
    assert not torch.equal(other_seed.tokens, contexts.tokens)
    assert sorted(other_seed.tokens.tolist()) == sorted(contexts.tokens.tolist())

    assert len(list((models.cache_dir() / "corpus").glob("*.safetensors"))) == 2

    def no_tokenising(*args):
        raise AssertionError("the second call should read the cache")

    monkeypatch.setattr(corpus, "_chunk_documents", no_tokenising)
    again = corpus.make_contexts(small_docs, tokenizer, ctx_len=64, max_contexts=5)
    assert len(again) == 5
    assert torch.equal(again.tokens, contexts.tokens[:5]) and torch.equal(again.starts, contexts.starts[:5])


def test_token_strs_and_decode_context(docs, tokenizer):
    assert corpus.token_strs(tokenizer, torch.tensor([15496, 995])) == ["Hello", " world"]
    genesis = next(doc for doc in docs if doc.source == "bible")
    ids = corpus.tokenize_document(tokenizer, genesis.text)
    position = 40
    strs, focus = corpus.decode_context(genesis, tokenizer, position, before=5, after=2)
    assert strs[focus] == tokenizer.decode([ids[position]])
    assert "".join(strs) == tokenizer.decode(ids[position - 5 : position + 3])
    strs, focus = corpus.decode_context(genesis, tokenizer, 0, before=5, after=2)
    assert focus == 0 and strs[0] == "Gen"
    with pytest.raises(IndexError):
        corpus.decode_context(genesis, tokenizer, len(ids))
