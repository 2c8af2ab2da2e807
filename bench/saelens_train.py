"""SAELens's side of the comparison. Runs only in the separate SAELens environment
(``build/saelens-venv``, made by ``bench/compare_saelens.py``); it never imports the course.

    train:      python saelens_train.py train ACTS.safetensors L1 LR OUT_FOLDER
                SAELens's own trainer (``SAETrainer``) and standard SAE (``StandardTrainingSAE``,
                library defaults) on the course's cached activations with the course's budget;
                writes the SAE with ``save_inference_model`` and prints {"tokens_per_s": ...}.
    check-load: python saelens_train.py check-load SAE_FOLDER ROWS.safetensors
                ``SAE.load_from_disk`` on a folder the course wrote; prints the largest
                differences of its codes and reconstruction from the course's (stored in ROWS).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import torch
from safetensors.torch import load_file
from sae_lens import SAE, StandardTrainingSAE, StandardTrainingSAEConfig
from sae_lens.config import SAETrainerConfig
from sae_lens.training.sae_trainer import SAETrainer

D_SAE, BATCH, EPOCHS = 2304, 1024, 8
L1_WARMUP_FRAC, LR_DECAY_FRAC = 0.05, 0.2


def shuffled_batches(acts: torch.Tensor) -> Iterator[torch.Tensor]:
    """EPOCHS shuffled passes over acts ([n, d_in]) in full batches, as the course's trainer draws them."""
    steps = len(acts) // BATCH
    for _ in range(EPOCHS):
        order = torch.randperm(len(acts))
        for i in range(steps):
            yield acts[order[i * BATCH : (i + 1) * BATCH]]


def train(acts_path: str, l1: float, lr: float, out: str) -> None:
    torch.manual_seed(0)
    acts = load_file(acts_path)["acts"]
    total_steps = EPOCHS * (len(acts) // BATCH)
    sae = StandardTrainingSAE(StandardTrainingSAEConfig(
        d_in=acts.shape[1], d_sae=D_SAE, l1_coefficient=l1, l1_warm_up_steps=int(L1_WARMUP_FRAC * total_steps)))
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    trainer = SAETrainer(
        SAETrainerConfig(total_training_samples=total_steps * BATCH, train_batch_size_samples=BATCH, lr=lr, lr_end=lr,
                         lr_decay_steps=int(LR_DECAY_FRAC * total_steps)),
        sae, shuffled_batches(acts))
    start = time.perf_counter()
    trainer.fit()
    tokens_per_s = total_steps * BATCH / (time.perf_counter() - start)
    sae.save_inference_model(out)
    print(json.dumps({"tokens_per_s": tokens_per_s}))


@torch.no_grad()
def check_load(folder: str, rows_path: str) -> None:
    rows = load_file(rows_path)
    sae = SAE.load_from_disk(folder)
    z = sae.encode(rows["x"])
    x_hat = sae.decode(z)
    print(json.dumps({"codes": (z - rows["z"]).abs().max().item(), "reconstruction": (x_hat - rows["x_hat"]).abs().max().item(),
                      "class": type(sae).__name__}))


if __name__ == "__main__":
    torch.set_num_threads(2)
    command, *args = sys.argv[1:]
    {"train": lambda a, l1, lr, out: train(a, float(l1), float(lr), out), "check-load": check_load}[command](*args)
