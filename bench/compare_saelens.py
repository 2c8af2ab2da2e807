"""The course's SAE trainer against SAELens's, at equal budget and equal L0, on the same activations.

SAELens lives in its own environment (``build/saelens-venv``, a pinned ``sae-lens`` and the course's
torch), made here on first use and never a dependency of the course. Both trainers see the same
cached activations (SmolLM2 layer 15, 200k training tokens, first 4 positions dropped, raw scale)
with the same budget and settings (width 2304, batch 1024, 8 epochs, the course's default learning
rate decayed to 0 over the last 20%, L1 warm-up over the first 5%, ``b_dec`` at the training mean);
each L1 coefficient is bracketed to the target L0 and every SAE, ours or SAELens's, is measured by
``sae_recipe.evaluate``. A third row trains Part 6's TopK SAE with the same budget and k at the
target L0.

The same run saves the course's SAE with Part 2's ``save_sae`` and checks that
``sae_lens.SAE.load_from_disk`` reads it back to the same codes and reconstruction.

    python bench/compare_saelens.py [--target-l0 48]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from grader.framework import REPO, reference
from saecourse import activations

sys.path.insert(0, str(Path(__file__).parent))
import report  # noqa: E402
import sae_recipe  # noqa: E402

SAELENS = "sae-lens==6.54.12"
TORCH = "torch==2.13.0"
VENV = REPO / "build" / "saelens-venv"
WORK = REPO / "build" / "bench" / "saelens"
RUNS = WORK / "runs.json"  # not committed: on a fresh clone, make bench trains both sides again
SCRIPT = Path(__file__).parent / "saelens_train.py"


INTRO = """### The course's SAE trainer against SAELens at equal budget (`python bench/compare_saelens.py`)

Same activations and budget as the ablation below (width 2304, batch 1024, 8 epochs, L1 warm-up
5%, the last 20% of the learning rate decayed, `b_dec` at the training mean) and the course's
default learning rate for both; each trainer's L1 coefficient bracketed to L0 48, every SAE
measured by the same function. SAELens runs in its own environment (`build/saelens-venv`);
tokens/s is the training loop alone, all at 2 threads, one run at a time. The TopK row is Part 6's
reference TopK SAE with the same budget, batches and schedule, k set to the target L0 (no L1)."""


def saelens_python() -> Path:
    """The separate environment's interpreter, created (torch first, then sae-lens) if missing."""
    python, marker = VENV / "bin" / "python", VENV / f".installed-{SAELENS}"
    if not marker.is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        for requirement in (TORCH, SAELENS):
            subprocess.run([python, "-m", "pip", "install", "--quiet", requirement], check=True)
        marker.touch()
    return python


def train_store_path() -> Path:
    """The cached training store's file (``saelens_train.py`` reads its ``acts`` tensor)."""
    args = (None, None, "train", sae_recipe.N_TRAIN)
    activations.cached_activations(*args, drop_first_positions=sae_recipe.DROP_FIRST)
    return activations.cache_path(*args, drop_first_positions=sae_recipe.DROP_FIRST)


def saelens_run(ref, l1_coeff: float, data: sae_recipe.EvalData, runs: dict) -> dict:
    """Train SAELens's standard SAE at ``l1_coeff`` (and the course's default learning rate) in its
    environment; measure it like ours."""
    lr = ref.TrainConfig().lr

    def measure() -> dict:
        folder = WORK / f"l1_{l1_coeff:g}_lr_{lr:g}"
        out = subprocess.run([saelens_python(), SCRIPT, "train", train_store_path(), str(l1_coeff), str(lr), folder],
                             check=True, capture_output=True, text=True).stdout
        speed = json.loads(out.strip().splitlines()[-1])
        return {**sae_recipe.evaluate(ref, ref.load_sae(folder), data), **speed}

    key = json.dumps({"trainer": SAELENS, "l1_coeff": l1_coeff, "lr": lr})
    return sae_recipe.cached_run(runs, RUNS, key, f"SAELens, λ={l1_coeff:g}, lr {lr:g}", l1_coeff, measure)


def timed_training(train, n_rows: int, cfg):
    """(``train()``'s result, tokens per second): ``train`` runs ``cfg.epochs`` passes over the full batches of ``n_rows`` rows."""
    start = time.perf_counter()
    result = train()
    return result, n_rows // cfg.batch_size * cfg.batch_size * cfg.epochs / (time.perf_counter() - start)


def course_run(ref, l1_coeff: float, acts: torch.Tensor, data: sae_recipe.EvalData, runs: dict) -> dict:
    """Part 2's reference ``train_sae`` with its default config at ``l1_coeff``."""
    cfg = ref.TrainConfig(l1_coeff=l1_coeff)

    def measure() -> dict:
        torch.manual_seed(cfg.seed)
        sae = ref.SAE(acts.shape[1], cfg.d_sae)
        _, tokens_per_s = timed_training(lambda: ref.train_sae(sae, acts, cfg, progress=False), len(acts), cfg)
        ref.save_sae(sae, course_folder(cfg), {"train_config": str(cfg)})
        return {**sae_recipe.evaluate(ref, sae, data), "tokens_per_s": tokens_per_s}

    return sae_recipe.cached_run(runs, RUNS, json.dumps({"trainer": "course", "config": str(cfg)}), f"course, λ={l1_coeff:g}",
                                 l1_coeff, measure)


def topk_run(ref, k: int, acts: torch.Tensor, data: sae_recipe.EvalData, runs: dict) -> dict:
    """Part 6's reference TopK SAE (``train_topk``: MSE only, the top ``k`` pre-activations kept, unit
    decoder rows) with Part 2's default budget, batches and learning-rate schedule."""
    cfg = ref.TrainConfig()
    train_topk = reference("part6_feature_splitting").train_topk

    def measure() -> dict:
        sae, tokens_per_s = timed_training(lambda: train_topk(acts, cfg.d_sae, k, cfg, progress=False), len(acts), cfg)
        return {**sae_recipe.evaluate(ref, sae, data), "tokens_per_s": tokens_per_s, "k": k}

    key = json.dumps({"trainer": "course TopK (Part 6)", "k": k, "config": str(cfg)})
    return sae_recipe.cached_run(runs, RUNS, key, f"course TopK, k={k}", None, measure)


def course_folder(cfg) -> Path:
    return WORK / f"course_l1_{cfg.l1_coeff:g}_lr_{cfg.lr:g}"


@torch.no_grad()
def check_saelens_loads(ref, folder: Path, x: torch.Tensor) -> dict:
    """Codes and reconstruction of the course's SAE at ``folder`` against SAELens's reading of it."""
    sae = ref.load_sae(folder)
    x_hat, z = sae(x)
    rows = WORK / "load_check_rows.safetensors"
    save_file({"x": x.contiguous(), "z": z.contiguous(), "x_hat": x_hat.contiguous()}, rows)
    out = subprocess.run([saelens_python(), SCRIPT, "check-load", folder, rows], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-l0", type=float, default=48.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    ref = reference("part2_training_saes")
    acts = activations.cached_activations(None, None, "train", n_tokens=sae_recipe.N_TRAIN,
                                          drop_first_positions=sae_recipe.DROP_FIRST).acts
    data, runs = sae_recipe.eval_data(), sae_recipe.load_runs(RUNS)
    WORK.mkdir(parents=True, exist_ok=True)
    start = ref.TrainConfig().l1_coeff
    ours = sae_recipe.bracket(lambda l1: course_run(ref, l1, acts, data, runs), start, args.target_l0)
    theirs = sae_recipe.bracket(lambda l1: saelens_run(ref, l1, data, runs), start, args.target_l0)
    topk = topk_run(ref, round(args.target_l0), acts, data, runs)
    loads = check_saelens_loads(ref, course_folder(ref.TrainConfig()), data.val[:512])
    markdown = sae_recipe.table([(sae_recipe.Recipe("course (Part 2's train_sae)"), ours),
                                 (sae_recipe.Recipe(f"SAELens {SAELENS.split('==')[1]} (SAETrainer, StandardTrainingSAE)"), theirs),
                                 (sae_recipe.Recipe("course TopK (Part 6's train_topk, no L1)"), topk)],
                                args.target_l0, speed=True)
    load = (f"SAELens's `SAE.load_from_disk` on a folder written by Part 2's `save_sae` ({loads['class']}): codes differ "
            f"by at most {loads['codes']:.1e}, reconstructions by {loads['reconstruction']:.1e}.")
    print(markdown, load, sep="\n\n")
    report.write_section("saelens", f"{INTRO}\n\nMachine: {report.machine()}.\n\n{markdown}\n\n{load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
