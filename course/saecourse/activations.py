"""Residual-stream activations of a language model on the corpus, with provenance for every row.

``collect_activations`` runs the model over contexts, stopping at the chosen block, and keeps
for each token its activation vector and where it came from (document, position in the
document, position in the context, token id). ``cached_activations`` does all of it, from
model name to activation store, once, and reads the result from the cache afterwards.

Massive activations: in SmolLM2 (layer 15) the first token of every context has a residual
norm above 20000 against a median of about 170, and sometimes the second token too. Those few
rows carry almost all of the variance, so they would dominate any reconstruction loss or
explained variance. ``drop_first_positions`` leaves out the first positions of each context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from tqdm.auto import tqdm

from . import corpus, models
from .utils import save_tensors_atomic

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DROP_FIRST_POSITIONS = 4  # default for cached_activations: the massive-activation positions and a margin

ROW_FIELDS = ("acts", "doc_ids", "positions", "context_pos", "tokens")


@dataclass
class ActivationStore:
    """Activation vectors, one row per token, and the provenance of each row.

    acts:        [n_tokens, d_model] float32 residual-stream vectors
    doc_ids:     [n_tokens] document the token belongs to (corpus.load_documents()[doc_id])
    positions:   [n_tokens] position of the token inside its document's tokens
    context_pos: [n_tokens] position of the token inside its context (0..ctx_len-1)
    tokens:      [n_tokens] token id
    metadata:    where the rows come from: model, layer, split, ctx_len, n_tokens, ...
    """

    acts: torch.Tensor
    doc_ids: torch.Tensor
    positions: torch.Tensor
    context_pos: torch.Tensor
    tokens: torch.Tensor
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.acts.shape[0]

    @property
    def d_model(self) -> int:
        return self.acts.shape[1]

    def save(self, path: str | Path) -> None:
        """Write to a safetensors file (metadata as JSON strings), atomically."""
        tensors = {name: getattr(self, name).contiguous() for name in ROW_FIELDS}
        metadata = {key: json.dumps(value) for key, value in self.metadata.items()}
        save_tensors_atomic(tensors, Path(path), metadata)

    @classmethod
    def load(cls, path: str | Path) -> ActivationStore:
        """Read a store written by ``save``."""
        with safe_open(path, framework="pt") as f:
            tensors = {name: f.get_tensor(name) for name in ROW_FIELDS}
            metadata = {key: json.loads(value) for key, value in (f.metadata() or {}).items()}
        return cls(**tensors, metadata=metadata)

    def filter(self, mask: torch.Tensor) -> ActivationStore:
        """The rows where ``mask`` ([n_tokens] bool) is True, with their provenance."""
        rows = {name: getattr(self, name)[mask] for name in ROW_FIELDS}
        return ActivationStore(**rows, metadata={**self.metadata, "n_tokens": int(rows["acts"].shape[0])})

    def batches(self, batch_size: int, shuffle: bool = True, seed: int = 0) -> Iterator[torch.Tensor]:
        """One pass over the activations in batches: [batch_size, d_model] (the last may be smaller).

        With ``shuffle`` the order is a seeded random permutation, the same for the same seed.
        """
        if shuffle:
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        else:
            order = torch.arange(len(self))
        for start in range(0, len(self), batch_size):
            yield self.acts[order[start : start + batch_size]]


def context_tokens(store: ActivationStore, rows: torch.Tensor, tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """The whole context the model saw for each of ``rows`` (indices into ``store``): [len(rows), ctx_len]
    token ids; row ``rows[i]`` sits at position ``store.context_pos[rows[i]]`` of context ``i``. Rebuilt from
    the rows' provenance (document, position), so the model can be run on it again."""
    ctx_len = store.metadata["ctx_len"]
    starts = store.positions[rows] - store.context_pos[rows]
    return torch.stack([corpus.document_tokens(tokenizer, int(doc))[int(start): int(start) + ctx_len]
                        for doc, start in zip(store.doc_ids[rows], starts)])


def context_windows(store: ActivationStore, width: int) -> torch.Tensor:
    """Non-overlapping windows of ``width`` consecutive tokens, each inside one context: [n_windows, width]
    row indices into ``store``.

    A context's rows are consecutive in a store (its first ``drop_first_positions`` tokens are not
    there); a new context starts wherever the document or the context's start changes. Each
    context gives ``n_rows // width`` windows, aligned at its first stored row; the rest is left out.
    """
    n = len(store)
    start = store.positions - store.context_pos  # position of the context's first token in its document
    new = torch.ones(n, dtype=torch.bool)
    new[1:] = (store.doc_ids[1:] != store.doc_ids[:-1]) | (start[1:] != start[:-1])
    run = new.cumsum(0) - 1  # [n] which context each row belongs to
    first = torch.nonzero(new).squeeze(1)  # [n_contexts] the first row of each context
    length = torch.diff(first, append=torch.tensor([n]))  # [n_contexts]
    offset = torch.arange(n) - first[run]
    full = offset // width < length[run] // width
    window_starts = torch.nonzero(full & (offset % width == 0)).squeeze(1)
    return window_starts[:, None] + torch.arange(width)


def collect_activations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    contexts: corpus.Contexts,
    layer: int,
    *,
    batch_size: int = 16,
    max_tokens: int | None = None,
    drop_first_positions: int = 0,
    progress: bool = True,
) -> ActivationStore:
    """The residual stream after block ``layer`` for the tokens of ``contexts``, in order.

    Contexts are run ``batch_size`` at a time through a forward pass that stops at the block.
    The first ``drop_first_positions`` tokens of each context are left out; collection stops
    after ``max_tokens`` rows (all of them if None). The output is allocated once up front, so
    memory stays at the size of the result. The tokenizer is recorded (by vocabulary hash) in
    the metadata, as the ids in ``tokens`` only mean something with it.
    """
    ctx_len = contexts.ctx_len
    kept = ctx_len - drop_first_positions
    if not 0 < kept <= ctx_len:
        raise ValueError(f"drop_first_positions must be in 0..{ctx_len - 1}, got {drop_first_positions}.")
    n_ctx = len(contexts) if max_tokens is None else min(len(contexts), math.ceil(max_tokens / kept))
    n_tokens = n_ctx * kept if max_tokens is None else min(max_tokens, n_ctx * kept)

    # Provenance of every row, known before running the model: context i, position j >= drop.
    used = contexts[:n_ctx]
    context_pos = torch.arange(drop_first_positions, ctx_len).repeat(n_ctx)[:n_tokens]
    doc_ids = used.doc_ids.repeat_interleave(kept)[:n_tokens]
    positions = used.starts.repeat_interleave(kept)[:n_tokens] + context_pos
    tokens = used.tokens[:, drop_first_positions:].reshape(-1)[:n_tokens]

    acts = torch.empty(n_tokens, models.d_model(model), dtype=torch.float32)
    with tqdm(total=n_tokens, unit="tok", unit_scale=True, disable=not progress,
              desc=f"Layer {layer} activations") as bar:
        for first in range(0, n_ctx, batch_size):
            batch = used.tokens[first : first + batch_size]
            resid = models.residual_stream(model, batch, layer)  # [batch, ctx_len, d_model]
            rows = resid[:, drop_first_positions:].reshape(-1, acts.shape[1])
            start = first * kept
            stop = min(start + rows.shape[0], n_tokens)
            acts[start:stop] = rows[: stop - start]
            bar.update(stop - start)

    metadata = {
        "model": model.config.name_or_path,
        "tokenizer": corpus.tokenizer_hash(tokenizer),
        "layer": layer,
        "ctx_len": ctx_len,
        "drop_first_positions": drop_first_positions,
        "n_tokens": n_tokens,
    }
    return ActivationStore(acts, doc_ids, positions, context_pos, tokens, metadata)


def cache_path(model_name: str | None, layer: int | None, split: str, n_tokens: int, ctx_len: int = 128,
               drop_first_positions: int = DROP_FIRST_POSITIONS) -> Path:
    """Where ``cached_activations`` keeps these activations (the arguments mean the same)."""
    name = models.resolve_model_name(model_name)
    layer = models.default_layer(name) if layer is None else layer
    key = "_".join([
        re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-"),
        f"L{layer}", split, corpus.documents_hash(corpus.get_split(split)), f"ctx{ctx_len}",
        f"drop{drop_first_positions}", f"n{n_tokens}",
    ])
    return models.cache_dir() / "activations" / f"{key}.safetensors"


def cached_activations(
    model_name: str | None = None,
    layer: int | None = None,
    split: str = "train",
    n_tokens: int = 100_000,
    ctx_len: int = 128,
    drop_first_positions: int = DROP_FIRST_POSITIONS,
    batch_size: int = 16,
    progress: bool = True,
) -> ActivationStore:
    """Activations of ``split`` at ``layer``, collected once and then read from the cache (a cache
    hit loads no model).

    model_name: see ``models.load_model`` (default: the embedded SmolLM2).
    layer: block index; default the middle block, ``n_layers // 2`` (15 of SmolLM2's 30).
    The cache file, ``cache_dir()/activations/<key>.safetensors``, is keyed by model, layer,
    split, the corpus documents, ``ctx_len``, ``drop_first_positions`` and ``n_tokens``.
    Collecting 100k SmolLM2 tokens at layer 15 took about 2.5 minutes on one CPU thread here
    (about 700 tokens/s; about 1200 with two threads).
    """
    path = cache_path(model_name, layer, split, n_tokens, ctx_len, drop_first_positions)
    if path.exists():
        return ActivationStore.load(path)

    name = models.resolve_model_name(model_name)
    model, tokenizer = models.load_model(name)
    contexts = corpus.make_contexts(corpus.get_split(split), tokenizer, ctx_len)
    layer = models.default_layer(name) if layer is None else layer
    store = collect_activations(model, tokenizer, contexts, layer, batch_size=batch_size,
                                max_tokens=n_tokens, drop_first_positions=drop_first_positions,
                                progress=progress)
    store.metadata.update(model=name, split=split)
    store.save(path)
    return store
