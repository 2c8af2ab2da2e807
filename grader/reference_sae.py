"""Train the reference SAE that Parts 3-7 stand on: Part 2's reference code and default
configuration (``saecourse.saes.REFERENCE``), deterministically, saved in SAELens's format.

Runs on the trusted side only (it executes the reference solution).

    python -m grader.reference_sae [--model NAME] [--layer N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from grader.framework import reference
from saecourse import activations, models, saes
from saecourse.files import atomic_path
from saecourse.utils import set_seed, torch_threads


def train(acts: torch.Tensor, train_config: dict, threads: int) -> torch.nn.Module:
    """Part 2's reference ``SAE`` trained by its ``train_sae`` on ``acts`` ([n, d_in]) with a fixed
    seed and thread count (the matrix products' summation order depends on the threads)."""
    ref = reference("part2_training_saes")
    with torch_threads(threads):
        cfg = ref.TrainConfig(**train_config)
        set_seed(cfg.seed)
        sae = ref.SAE(acts.shape[1], cfg.d_sae)
        ref.train_sae(sae, acts, cfg)
    return sae


def build(model_name: str | None, layer: int | None, folder: Path) -> Path:
    """Train the reference SAE for ``model_name`` at ``layer`` and write it to ``folder`` (atomically:
    a half-written folder never appears under its final name)."""
    spec = saes.reference_spec()
    name = models.resolve_model_name(model_name)
    layer = models.default_layer(name) if layer is None else layer
    store = activations.cached_activations(name, layer, "train", n_tokens=spec["n_tokens"], ctx_len=spec["ctx_len"],
                                           drop_first_positions=spec["drop_first_positions"])
    start = time.perf_counter()
    sae = train(store.acts, spec["train_config"], spec["threads"])
    metadata = {"model_name": name, "hook_name": f"blocks.{layer}.hook_resid_post", "hook_layer": layer,
                "context_size": spec["ctx_len"], "prepend_bos": False, "exclude_first_positions": spec["drop_first_positions"],
                "dataset_path": "saecourse corpus (train split)", "training_tokens": spec["n_tokens"] * spec["train_config"]["epochs"],
                "train_config": spec["train_config"], "reference_key": saes.reference_key(name, layer),
                "train_seconds": round(time.perf_counter() - start, 1)}
    with atomic_path(folder) as tmp:
        reference("part2_training_saes").save_sae(sae, tmp, metadata)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--layer", type=int)
    args = parser.parse_args()
    start = time.perf_counter()
    sae = saes.reference_sae(args.model, args.layer)
    print(f"reference SAE ({sae.d_sae} latents) at {saes.reference_folder(args.model, args.layer)}, "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
