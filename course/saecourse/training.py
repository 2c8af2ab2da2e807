"""Part 2's SAE trainer for the parts after it (Part 6's SAEs of several widths, Part 7's own), and
a cache of trained SAEs keyed by everything they depend on.

``train`` is Part 2's recipe: free decoder rows with the L1 penalty weighted by their norms, rows
initialised at norm 0.1 with ``W_enc = W_decᵀ``, ``b_dec`` starting at the data mean, Adam with
gradient clipping, an L1 warm-up and a linear learning-rate decay, and the norms folded into the
encoder at the end. With the same seed and thread count it gives the same weights as Part 2's
reference ``train_sae`` (``tests/test_training.py`` checks).

Comparing SAEs (of several widths, or a ReLU SAE with a TopK one) is fair only at comparable
sparsity, and the λ that gives a chosen L0 depends on the width and the training budget.
``calibrate_l1`` finds it from two runs at the same budget: at a fixed budget the final L0 is close
to a power of λ (measured on SmolLM2's layer 15 with 2 epochs of 200k tokens: L0 ∝ λ^-1.37, λ^-1.31
and λ^-1.25 for 1152, 2304 and 4608 latents between λ = 5 and 9), so a straight line through the two
runs in log-log coordinates gives the λ for the target (for L0 47 there: λ 9.90, measured L0 47.0,
and λ 12.28, measured 47.8, on held-out tokens). Steering λ *during* a run does not work at
such budgets: L0 falls for most of training at a fixed λ while the features form, and a controller
that follows it overshoots.

This module reveals Part 2's exercises, so the grader hides it while it grades Parts 1-2 (``REVEALS``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import activations, metrics, saelens, saes
from .files import atomic_path
from .utils import cache_dir, set_seed, torch_threads

REVEALS = "part2_training_saes"  # graded parts up to this one must not see this module


@dataclass
class TrainConfig:
    """Part 2's ``TrainConfig``."""

    d_sae: int = 2304
    l1_coeff: float = 7.3
    lr: float = 2e-3
    batch_size: int = 1024
    epochs: int = 8
    max_grad_norm: float = 1.0
    l1_warmup_frac: float = 0.05
    lr_decay_frac: float = 0.2
    seed: int = 0
    log_every: int = 25


class TrainableSAE(nn.Module):
    """A standard ReLU SAE with trainable parameters, initialised as in Part 2.

    W_enc: [d_in, d_sae], b_enc: [d_sae], W_dec: [d_sae, d_in], b_dec: [d_in]
    """

    def __init__(self, d_in: int, d_sae: int, init_norm: float = 0.1):
        super().__init__()
        rows = init_norm * F.normalize(torch.randn(d_sae, d_in), dim=-1)
        self.W_dec = nn.Parameter(rows)
        self.W_enc = nn.Parameter(rows.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def encode(self, x: Tensor) -> Tensor:
        """x: [..., d_in] -> z: [..., d_sae]."""
        return F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: [..., d_in] -> (x_hat: [..., d_in], z: [..., d_sae])."""
        z = self.encode(x)
        return z @ self.W_dec + self.b_dec, z

    def tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).detach().clone() for name in saelens.TENSORS}


def schedules(step: int, total_steps: int, cfg: TrainConfig) -> tuple[float, float]:
    """(learning rate, fraction of λ) at ``step``: constant lr then a linear decay to 0 over the last
    ``lr_decay_frac``; λ linear from 0 over the first ``l1_warmup_frac``, then whole."""
    lr = cfg.lr * min(1.0, (total_steps - step) / (cfg.lr_decay_frac * total_steps))
    return lr, min(1.0, step / (cfg.l1_warmup_frac * total_steps))


def train(sae: TrainableSAE, acts: Tensor, cfg: TrainConfig, progress: bool = True) -> dict[str, list[float]]:
    """Train ``sae`` on ``acts`` ([n, d_in]) for ``cfg.epochs`` shuffled passes of ``cfg.batch_size`` rows, fold
    its decoder norms, and return the logged metrics."""
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    steps_per_epoch = len(acts) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    history = defaultdict(list)
    bar = tqdm(total=total_steps, disable=not progress, desc=f"SAE {cfg.d_sae}")
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(acts))
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            x = acts[order[i * cfg.batch_size: (i + 1) * cfg.batch_size]]  # [batch, d_in]
            lr, warm = schedules(step, total_steps, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x_hat, z = sae(x)
            mse = (x_hat - x).pow(2).sum(-1).mean()
            l1 = (z * sae.W_dec.norm(dim=-1)).sum(-1).mean()
            optimizer.zero_grad()
            (mse + cfg.l1_coeff * warm * l1).backward()
            nn.utils.clip_grad_norm_(sae.parameters(), cfg.max_grad_norm)
            optimizer.step()
            if step % cfg.log_every == 0 or step == total_steps - 1:
                with torch.no_grad():
                    history["step"].append(step)
                    history["mse"].append(mse.item())
                    history["l0"].append(metrics.l0(z))
                    history["explained_variance"].append(metrics.explained_variance(x, x_hat))
                bar.set_postfix(L0=f"{history['l0'][-1]:.0f}", EV=f"{history['explained_variance'][-1]:.3f}")
            bar.update()
    bar.close()
    fold_norms(sae)
    return dict(history)


@torch.no_grad()
def fold_norms(sae: TrainableSAE) -> None:
    """Unit decoder rows, the reconstruction unchanged: each row's norm moves into its encoder column and bias."""
    norms = sae.W_dec.norm(dim=-1)  # [d_sae]
    sae.W_dec.div_(norms[:, None])
    sae.W_enc.mul_(norms)
    sae.b_enc.mul_(norms)


# --------------------------------------------------------------------------------------------------
# A cache of trained SAEs


def sae_key(store_path: Path, cfg: TrainConfig, threads: int) -> str:
    """A hash of everything a trained SAE depends on: the activations (their cache file name is a key of
    model, layer, split, corpus and size), the configuration, the thread count and the training code
    (the source of the functions that train, not the rest of this file)."""
    code = "".join(inspect.getsource(part) for part in (TrainableSAE, schedules, train, fold_norms))
    what = {"activations": store_path.name, "config": dataclasses.asdict(cfg), "threads": threads,
            "code": hashlib.sha256(code.encode()).hexdigest()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def cached_sae(cfg: TrainConfig, model_name: str | None = None, layer: int | None = None, n_tokens: int = 200_000,
               threads: int = 2, progress: bool = True) -> saes.SAE:
    """An SAE trained with ``cfg`` on the cached training activations (``activations.cached_activations``
    with these arguments), trained once, deterministically (seed and thread count fixed), and read from
    ``cache_dir()/saes/trained_<key>`` afterwards, a folder in SAELens's format whose ``cfg.json`` metadata
    records the configuration and the final training L0."""
    store_path = activations.cache_path(model_name, layer, "train", n_tokens)
    folder = cache_dir() / "saes" / f"trained_{cfg.d_sae}_{sae_key(store_path, cfg, threads)}"
    if not (folder / saelens.WEIGHTS).is_file():
        store = activations.cached_activations(model_name, layer, "train", n_tokens, progress=progress)
        with torch_threads(threads):
            set_seed(cfg.seed)
            sae = TrainableSAE(store.d_model, cfg.d_sae)
            history = train(sae, store.acts, cfg, progress)
        metadata = {**store.metadata, "hook_layer": store.metadata["layer"], "train_config": dataclasses.asdict(cfg),
                    "final_l0": history["l0"][-1], "training_tokens": len(store) * cfg.epochs, "threads": threads}
        with atomic_path(folder) as tmp:
            saelens.write_folder(tmp, sae.tensors(), saelens.standard_config(store.d_model, cfg.d_sae, metadata))
    return saes.load(folder)


def calibrate_l1(cfg: TrainConfig, target_l0: float, l0_of: Callable[[saes.SAE], float],
                 guesses: tuple[float, float] = (5.0, 9.0), **cached: object) -> dict:
    """The λ at which ``cfg`` (its ``l1_coeff`` aside) should reach ``target_l0``: train at both ``guesses``
    (``cached_sae`` with ``cached`` as its other arguments), measure each L0 with ``l0_of`` (on held-out
    activations), and interpolate log L0 linearly in log λ. Returns {"l1_coeff": λ, "runs": [(λ, L0), ...]}."""
    runs = [(l1, l0_of(cached_sae(dataclasses.replace(cfg, l1_coeff=l1), **cached))) for l1 in guesses]
    (l1_a, l0_a), (l1_b, l0_b) = runs
    slope = math.log(l0_b / l0_a) / math.log(l1_b / l1_a)  # d log L0 / d log λ, negative
    return {"l1_coeff": l1_a * math.exp(math.log(target_l0 / l0_a) / slope), "runs": runs}
