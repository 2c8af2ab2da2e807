"""``make bench``: speed targets as ratios against a baseline measured in the same run.

1. Activation collection: the forward pass that stops after the chosen block (saecourse) against
   a full forward with ``output_hidden_states`` (the original exercise's way), same model, same
   batches. Target: >= 1.5x at the middle block (the later half of the blocks never runs).
2. Toy models: 24 instances trained as one batched model against the same 24 trained one after
   another. Target: >= 4x.

Prints a table and exits non-zero if a target is missed.
"""

from __future__ import annotations

import sys
import time

import torch

from grader.framework import reference
from saecourse import corpus, models


def tokens_per_second(fn, tokens: torch.Tensor, repeats: int = 3) -> float:
    fn(tokens[:2])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn(tokens)
    return repeats * tokens.numel() / (time.perf_counter() - start)


def bench_collection() -> tuple[float, float]:
    model, tokenizer = models.load_model()
    layer = models.n_layers(model) // 2
    tokens = corpus.make_contexts(corpus.get_split("train"), tokenizer, ctx_len=128).tokens[:16]
    with torch.no_grad():
        full = tokens_per_second(lambda t: model(input_ids=t, output_hidden_states=True).hidden_states[layer + 1], tokens)
    stopped = tokens_per_second(lambda t: models.residual_stream(model, t, layer), tokens)
    return full, stopped


def bench_toy_batching(steps: int = 300) -> tuple[float, float]:
    ref = reference("part1_toy_superposition")
    p, importance = ref.regime_settings(8)
    start = time.perf_counter()
    for i in range(len(p)):
        ref.train_toy_model(ref.ToyModel(1, 5, 2), p[i : i + 1], importance[i : i + 1], steps=steps, progress=False)
    one_by_one = time.perf_counter() - start
    start = time.perf_counter()
    ref.train_toy_model(ref.ToyModel(len(p), 5, 2), p, importance, steps=steps, progress=False)
    batched = time.perf_counter() - start
    return one_by_one, batched


def main() -> int:
    torch.set_num_threads(2)
    full, stopped = bench_collection()
    torch.set_num_threads(1)
    one_by_one, batched = bench_toy_batching()
    rows = [
        ("activation collection (tokens/s)", f"full forward {full:.0f}", f"stopped at middle block {stopped:.0f}", stopped / full, 1.5),
        ("toy models, 24 instances (s)", f"one by one {one_by_one:.1f}", f"batched {batched:.1f}", one_by_one / batched, 4.0),
    ]
    failed = False
    for name, baseline, ours, ratio, target in rows:
        ok = ratio >= target
        failed |= not ok
        print(f"{name:36s} {baseline:24s} {ours:32s} ratio {ratio:5.2f} (target >= {target}) {'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
