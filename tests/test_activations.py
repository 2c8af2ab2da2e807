"""Tests for saecourse.activations: collection, provenance, the store, the cache."""

import pytest
import torch

from saecourse import activations, corpus, models
from saecourse.activations import ActivationStore


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny():
    return models.tiny_gpt2()


@pytest.fixture(scope="module")
def docs():
    return corpus.load_documents()


@pytest.fixture(scope="module")
def contexts(docs, tiny, tmp_path_factory):
    """Contexts of 32 tokens from two short documents of each source."""
    _, tokenizer = tiny
    picked = [doc for source in corpus.SOURCES
              for doc in [d for d in docs if d.source == source and 3000 < len(d.text) < 15000][:2]]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAECOURSE_CACHE", str(tmp_path_factory.mktemp("cache")))
        return corpus.make_contexts(picked, tokenizer, ctx_len=32, max_contexts=40)


def test_rows_follow_the_contexts_and_their_provenance(tiny, contexts, docs):
    model, tokenizer = tiny
    store = activations.collect_activations(model, tokenizer, contexts, layer=1, batch_size=7,
                                            drop_first_positions=3, progress=False)
    assert len(store) == 40 * 29 and store.acts.shape == (40 * 29, 64)
    assert store.acts.dtype == torch.float32
    assert store.context_pos.min() == 3 and store.context_pos.max() == 31

    resid = models.residual_stream(model, contexts.tokens, layer=1)  # [40, 32, 64]
    torch.testing.assert_close(store.acts, resid[:, 3:].reshape(-1, 64))
    torch.testing.assert_close(store.tokens, contexts.tokens[:, 3:].reshape(-1), rtol=0, atol=0)

    doc_tokens = {i: corpus.tokenize_document(tokenizer, docs[i].text) for i in set(store.doc_ids.tolist())}
    for row in range(0, len(store), 37):
        doc_id, position = store.doc_ids[row].item(), store.positions[row].item()
        assert doc_tokens[doc_id][position] == store.tokens[row].item()
    assert store.metadata == {
        "model": model.config.name_or_path, "tokenizer": corpus.tokenizer_hash(tokenizer),
        "layer": 1, "ctx_len": 32, "drop_first_positions": 3, "n_tokens": 40 * 29,
    }


def test_context_tokens_rebuild_what_the_model_saw(tiny, contexts):
    model, tokenizer = tiny
    store = activations.collect_activations(model, tokenizer, contexts, layer=1, drop_first_positions=3, progress=False)
    rows = torch.tensor([0, 5, 29, 300, len(store) - 1])
    rebuilt = activations.context_tokens(store, rows, tokenizer)  # [5, 32]
    assert rebuilt.shape == (5, 32)
    torch.testing.assert_close(rebuilt[torch.arange(5), store.context_pos[rows]], store.tokens[rows], rtol=0, atol=0)
    assert any(torch.equal(rebuilt[0], c) for c in contexts.tokens), "the rebuilt context is one the model saw"
    torch.testing.assert_close(models.residual_stream(model, rebuilt, 1)[torch.arange(5), store.context_pos[rows]],
                               store.acts[rows])


def test_max_tokens_stops_mid_context(tiny, contexts):
    model, tokenizer = tiny
    full = activations.collect_activations(model, tokenizer, contexts, layer=0, progress=False)
    part = activations.collect_activations(model, tokenizer, contexts, layer=0, max_tokens=100,
                                           batch_size=2, progress=False)
    assert len(full) == 40 * 32 and len(part) == 100 == part.metadata["n_tokens"]
    torch.testing.assert_close(part.acts, full.acts[:100])
    assert torch.equal(part.positions, full.positions[:100])
    with pytest.raises(ValueError, match="drop_first_positions"):
        activations.collect_activations(model, tokenizer, contexts, layer=0, drop_first_positions=32)


def random_store(n: int = 50, d: int = 8) -> ActivationStore:
    g = torch.Generator().manual_seed(0)
    doc_ids, positions, context_pos, tokens = torch.randint(0, 1000, (4, n), generator=g)
    metadata = {"model": "tiny", "layer": 1, "split": "train", "ctx_len": 32, "n_tokens": n}
    return ActivationStore(torch.randn(n, d, generator=g), doc_ids, positions, context_pos, tokens, metadata)


def test_store_save_load_round_trip(tmp_path):
    store = random_store()
    store.save(tmp_path / "sub" / "acts.safetensors")
    loaded = ActivationStore.load(tmp_path / "sub" / "acts.safetensors")
    for name in activations.ROW_FIELDS:
        assert torch.equal(getattr(loaded, name), getattr(store, name)), name
    assert loaded.metadata == store.metadata  # types survive: ints stay ints


def test_store_batches_and_filter():
    store = random_store()
    batches = list(store.batches(16, shuffle=True, seed=3))
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    assert sorted(torch.cat(batches)[:, 0].tolist()) == sorted(store.acts[:, 0].tolist())
    assert torch.equal(torch.cat(batches), torch.cat(list(store.batches(16, shuffle=True, seed=3))))
    assert torch.equal(torch.cat(list(store.batches(16, shuffle=False))), store.acts)

    mask = store.tokens % 2 == 0
    kept = store.filter(mask)
    assert len(kept) == int(mask.sum()) == kept.metadata["n_tokens"]
    assert torch.equal(kept.acts, store.acts[mask]) and torch.equal(kept.positions, store.positions[mask])


def test_cached_activations_collects_once(tiny, tmp_path, monkeypatch):
    model, tokenizer = tiny
    folder = tmp_path / "tiny-model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    store = activations.cached_activations(str(folder), split="val", n_tokens=300, ctx_len=32, progress=False)
    assert len(store) == 300
    assert store.metadata["layer"] == 1, "default layer: the middle block"
    assert store.metadata["split"] == "val" and store.metadata["model"] == str(folder)
    assert store.context_pos.min() == activations.DROP_FIRST_POSITIONS

    def no_collecting(*args, **kwargs):
        raise AssertionError("the second call should read the cache, without loading the model")

    monkeypatch.setattr(activations, "collect_activations", no_collecting)
    monkeypatch.setattr(activations.models, "load_model", no_collecting)
    again = activations.cached_activations(str(folder), split="val", n_tokens=300, ctx_len=32)
    assert torch.equal(again.acts, store.acts) and again.metadata == store.metadata
