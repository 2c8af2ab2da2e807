"""Part 2's SAE recipe, ablated: which training choices buy explained variance at equal L0 and budget.

Every run trains on the course's cached activations (SmolLM2 layer 15, 200k training tokens, the
first 4 positions of each context dropped, raw scale) with the course's budget (width 2304,
batch 1024, 8 epochs = 1560 steps) and is measured by one function on the 20k-token validation
store: L0, explained variance, dead and dense latents, CE loss recovered, training tokens/s.

A recipe changes one thing at a time from a base. Sparsity depends on the L1 coefficient, so each
recipe is compared at one target L0: a run within 3% of the target is taken as it is; otherwise the
coefficient is bracketed (a run on each side of the target) and the metrics are interpolated
linearly in log L0 between the two runs.

Runs are cached in ``bench/results/recipe_runs.json`` (committed) by recipe and coefficient, so a re-run only
trains what is new.

    python bench/sae_recipe.py [--target-l0 48] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from grader.framework import REPO, reference
from saecourse import activations, corpus, models

from report import write_section  # noqa: E402  (bench/ is on sys.path when a bench script runs)

RUNS = REPO / "bench" / "results" / "recipe_runs.json"  # committed: the table regenerates without retraining
N_TRAIN, N_VAL, CE_CONTEXTS, DROP_FIRST = 200_000, 20_000, 64, 4


@dataclass(frozen=True)
class Recipe:
    """How an SAE is initialised and trained; everything else (data, width, batch, steps) is fixed."""

    name: str
    unit_norm: bool = True          # decoder rows held at norm 1; else L1 weighted by ‖W_dec[i]‖, rows free
    dec_init_norm: float = 1.0      # decoder row norm at initialisation (only free rows keep it)
    enc_init: str = "transpose"     # "transpose": W_enc = W_decᵀ; "independent": Kaiming-uniform
    grad_clip: float | None = None  # clip the global gradient norm to this
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    l1_warmup_frac: float = 0.05
    lr_decay_frac: float = 0.2
    d_sae: int = 2304
    batch_size: int = 1024
    epochs: int = 8

    def key(self, l1_coeff: float) -> str:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "name"}
        return json.dumps({**fields, "l1_coeff": l1_coeff}, sort_keys=True)


COURSE_BEFORE = Recipe("course before (unit norm)")
FREE_ROWS = dataclasses.replace(COURSE_BEFORE, name="+ weighted L1, free rows, init norm 0.1", unit_norm=False, dec_init_norm=0.1)
SAELENS_LIKE = dataclasses.replace(FREE_ROWS, name="SAELens standard (+ gradient clipping 1.0)", grad_clip=1.0)
# (recipe, first L1 coefficient tried): one change at a time from the course's recipe towards SAELens's,
# then beyond it
COURSE_NOW = dataclasses.replace(SAELENS_LIKE, name="SAELens standard, lr 2e-3 (the course's recipe now)", lr=2e-3)
# (recipe, first L1 coefficient tried): one change at a time from the course's previous recipe towards
# SAELens's, then beyond it, then one change at a time back from the course's recipe now
RECIPES = [
    (COURSE_BEFORE, 13.0),
    (dataclasses.replace(COURSE_BEFORE, name="+ gradient clipping 1.0", grad_clip=1.0), 13.0),
    (dataclasses.replace(COURSE_BEFORE, name="+ lr 3e-3", lr=3e-3), 13.0),
    (FREE_ROWS, 9.0),
    (dataclasses.replace(FREE_ROWS, name="+ weighted L1, free rows, init norm 1", dec_init_norm=1.0), 11.0),
    (SAELENS_LIKE, 9.0),
    (COURSE_NOW, 9.0),
    (dataclasses.replace(COURSE_NOW, name="course now, no L1 warm-up", l1_warmup_frac=0.0), 7.3),
    (dataclasses.replace(COURSE_NOW, name="course now, no LR decay", lr_decay_frac=0.0), 7.3),
    (dataclasses.replace(COURSE_NOW, name="course now, independent encoder init", enc_init="independent"), 7.3),
]
# the order in which a fresh run measures them: what decided the course's recipe first
PRIORITY = ["+ gradient clipping 1.0", COURSE_NOW.name, "+ weighted L1, free rows, init norm 1", "course now, no L1 warm-up",
            "course now, no LR decay", "course now, independent encoder init", "+ lr 3e-3"]


ABLATION_INTRO = """### Part 2's SAE recipe, ablated (`python bench/sae_recipe.py`)

SmolLM2-135M layer 15, 200k training tokens (first 4 positions of each context dropped, raw
scale), width 2304, batch 1024, 8 epochs (1560 steps), lr 1e-3 unless stated, L1 warm-up 5%, LR
decay over the last 20%, `b_dec` at the training mean. Metrics on the 20k-token validation store;
CE loss recovered, the loss increase it hides (CE_sae - CE_clean, in nats and as a share of the clean
loss: zero-ablation's 12 nats flatter the ratio, Part 2) and KL(clean ‖ spliced) on 64 held-out
contexts of 128 tokens (positions 4+); runs cached before the KL was recorded show none (delete
their entries to measure it). Each row is at L0 48: a run
within 3% of it, or two runs bracketing it interpolated in log L0. One change at a time from the
course's previous recipe (unit-norm decoder rows) towards SAELens's standard SAE, then beyond, then
one change at a time back from the course's recipe now.
Results are cached in `bench/results/recipe_runs.json`."""


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------

def init_sae(ref, recipe: Recipe, d_in: int, b_dec: Tensor):
    """The reference SAE module, initialised as ``recipe`` says. b_dec: [d_in] (the training mean)."""
    sae = ref.SAE(d_in, recipe.d_sae)
    with torch.no_grad():
        sae.W_dec.copy_(F.normalize(sae.W_dec, dim=-1) * recipe.dec_init_norm)
        if recipe.enc_init == "independent":
            torch.nn.init.kaiming_uniform_(sae.W_enc)
        else:
            sae.W_enc.copy_(sae.W_dec.T)
        sae.b_dec.copy_(b_dec)
    return sae


def sparsity(recipe: Recipe, sae, z: Tensor) -> Tensor:
    """Batch mean of Σ_i z_i, or of Σ_i z_i ‖W_dec[i]‖ when the rows are free. z: [batch, d_sae]."""
    if recipe.unit_norm:
        return z.sum(-1).mean()
    return (z * sae.W_dec.norm(dim=-1)).sum(-1).mean()


def train(ref, recipe: Recipe, l1_coeff: float, acts: Tensor) -> tuple[object, float]:
    """Train an SAE on ``acts`` ([n, d_in]); return it and the training tokens per second."""
    torch.manual_seed(0)
    sae = init_sae(ref, recipe, acts.shape[1], acts.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=recipe.lr, betas=recipe.betas)
    steps_per_epoch = len(acts) // recipe.batch_size
    total = recipe.epochs * steps_per_epoch
    start = time.perf_counter()
    for step, x in enumerate(tqdm(batches(acts, recipe), total=total, desc=f"{recipe.name}, λ={l1_coeff:g}", leave=False)):
        for group in optimizer.param_groups:
            group["lr"] = ref.learning_rate(step, total, recipe.lr, recipe.lr_decay_frac) if recipe.lr_decay_frac else recipe.lr
        x_hat, z = sae(x)
        lam = ref.l1_coefficient(step, total, l1_coeff, recipe.l1_warmup_frac) if recipe.l1_warmup_frac else l1_coeff
        loss = (x_hat - x).pow(2).sum(-1).mean() + lam * sparsity(recipe, sae, z)
        optimizer.zero_grad()
        loss.backward()
        if recipe.unit_norm:
            remove_parallel_gradient(sae)
        if recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(sae.parameters(), recipe.grad_clip)
        optimizer.step()
        if recipe.unit_norm:
            normalize_decoder(sae)
    return sae, total * recipe.batch_size / (time.perf_counter() - start)


@torch.no_grad()
def remove_parallel_gradient(sae) -> None:
    """The unit-norm constraint, before the step: keep only the part of each decoder row's gradient
    tangent to the unit sphere at that row."""
    W, grad = sae.W_dec, sae.W_dec.grad
    grad -= (grad * W).sum(-1, keepdim=True) * W


@torch.no_grad()
def normalize_decoder(sae) -> None:
    """The unit-norm constraint, after the step: rescale every decoder row to norm 1."""
    sae.W_dec.data = F.normalize(sae.W_dec.data, dim=-1)


def batches(acts: Tensor, recipe: Recipe) -> Iterator[Tensor]:
    """``recipe.epochs`` shuffled passes over ``acts`` in full batches."""
    steps_per_epoch = len(acts) // recipe.batch_size
    for _ in range(recipe.epochs):
        order = torch.randperm(len(acts))
        for i in range(steps_per_epoch):
            yield acts[order[i * recipe.batch_size : (i + 1) * recipe.batch_size]]


# --------------------------------------------------------------------------------------------------
# Evaluation (one function for every SAE, ours or SAELens's)
# --------------------------------------------------------------------------------------------------

@dataclass
class EvalData:
    model: object
    layer: int
    val: Tensor          # [N_VAL, d_model]
    contexts: Tensor     # [CE_CONTEXTS, 128] token ids of held-out documents


def eval_data() -> EvalData:
    model, tokenizer = models.load_model()
    layer = models.n_layers(model) // 2
    val = activations.cached_activations(None, layer, "val", n_tokens=N_VAL, drop_first_positions=DROP_FIRST).acts
    contexts = corpus.make_contexts(corpus.get_split("val"), tokenizer, ctx_len=128).tokens[:CE_CONTEXTS]
    return EvalData(model, layer, val, contexts)


@torch.no_grad()
def evaluate(ref, sae, data: EvalData) -> dict[str, float]:
    """L0, explained variance, dead and dense fractions on the validation store; CE loss recovered,
    the loss increase (CE_sae - CE_clean, from which table() gives nats and % of clean) and
    KL(clean || spliced) on the held-out contexts."""
    x_hat, z = sae(data.val)
    n_dead, n_dense = ref.dead_and_dense(ref.feature_density(z))
    ce = ref.ce_loss_recovered(data.model, sae, data.contexts, data.layer, DROP_FIRST)
    return {
        "l0": ref.l0_norm(z), "explained_variance": ref.explained_variance(data.val, x_hat),
        "dead_pct": 100 * n_dead / z.shape[1], "dense_pct": 100 * n_dense / z.shape[1],
        "ce_recovered": ce["recovered"], "ce_sae": ce["sae"], "ce_clean": ce["clean"], "kl": ce["kl"],
    }


# --------------------------------------------------------------------------------------------------
# Bracketing the L1 coefficient
# --------------------------------------------------------------------------------------------------

def load_runs(path: Path = RUNS) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.is_file() else {}


def run(ref, recipe: Recipe, l1_coeff: float, acts: Tensor, data: EvalData, runs: dict) -> dict:
    """Train and evaluate ``recipe`` at ``l1_coeff``, or read the result of an earlier run."""
    def measure() -> dict:
        sae, tokens_per_s = train(ref, recipe, l1_coeff, acts)
        return {**evaluate(ref, sae, data), "tokens_per_s": tokens_per_s}

    return cached_run(runs, RUNS, recipe.key(l1_coeff), f"{recipe.name}, λ={l1_coeff:g}", l1_coeff, measure)


def cached_run(runs: dict, path: Path, key: str, label: str, l1_coeff: float | None, measure) -> dict:
    """``runs[key]``, measured first (and ``runs`` saved to ``path``) if it is new."""
    if key not in runs:
        runs[key] = {**measure(), "l1_coeff": l1_coeff}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(runs, indent=1))
        print(f"  {label}: " + ", ".join(f"{k} {v:.4g}" for k, v in runs[key].items() if v is not None), flush=True)
    return runs[key]


def next_coefficient(points: list[dict], target: float, slope: float = 2.0) -> float:
    """A coefficient expected to land on the other side of ``target``: L0 ∝ λ^-slope through the
    last point, or the fitted slope of the last two, overshooting by 15% to make a bracket likely."""
    last = points[-1]
    if len(points) >= 2 and points[-2]["l0"] != last["l0"]:
        fitted = -math.log(last["l0"] / points[-2]["l0"]) / math.log(last["l1_coeff"] / points[-2]["l1_coeff"])
        slope = fitted if fitted > 0.3 else slope
    ratio = (last["l0"] / target) ** (1 / slope)
    return round(last["l1_coeff"] * ratio ** 1.15, 2)


def at_target(points: list[dict], target: float) -> dict[str, float]:
    """Metrics interpolated linearly in log L0 between the two runs that bracket ``target``."""
    below = max((p for p in points if p["l0"] <= target), key=lambda p: p["l0"])
    above = min((p for p in points if p["l0"] >= target), key=lambda p: p["l0"])
    if below is above:
        return dict(below)
    t = math.log(target / below["l0"]) / math.log(above["l0"] / below["l0"])
    return {k: below[k] + t * (above[k] - below[k]) for k in below if k in above}


def settle(points: list[dict], target: float, within: float = 0.03) -> dict[str, float] | None:
    """Metrics at L0 = ``target`` from ``points`` (runs of one recipe): the run closest to the target
    if it is within ``within`` (relative), else interpolated between two runs that bracket it, else None."""
    close = [p for p in points if abs(p["l0"] / target - 1) <= within]
    if close:
        return min(close, key=lambda p: abs(p["l0"] - target))
    if any(p["l0"] <= target for p in points) and any(p["l0"] >= target for p in points):
        return at_target(points, target)
    return None


def bracket(measure, start: float, target: float, max_runs: int = 3) -> dict[str, float] | None:
    """Metrics at L0 = ``target``: ``measure(l1_coeff) -> metrics`` from ``start`` until ``settle``
    has an answer (None if ``max_runs`` do not give one)."""
    points = [measure(start)]
    while (result := settle(points, target)) is None and len(points) < max_runs:
        points.append(measure(next_coefficient(points, target)))
    return result


def cached_points(runs: dict, recipe: Recipe) -> list[dict]:
    """The cached runs of ``recipe``, at any L1 coefficient."""
    return [p for key, p in runs.items() if {**json.loads(key), "l1_coeff": 0} == json.loads(recipe.key(0))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-l0", type=float, default=48.0)
    parser.add_argument("--only", nargs="*", help="recipe names to run (default: all)")
    parser.add_argument("--cached-only", action="store_true", help="train nothing: tabulate the runs already cached")
    args = parser.parse_args()
    runs = load_runs()
    chosen = [(r, start) for r, start in RECIPES if not args.only or r.name in args.only]
    results = {r.name: settle(cached_points(runs, r), args.target_l0) for r, _ in chosen}
    if not args.cached_only:
        torch.set_num_threads(2)
        ref = reference("part2_training_saes")
        acts = activations.cached_activations(None, None, "train", n_tokens=N_TRAIN, drop_first_positions=DROP_FIRST).acts
        data = eval_data()
        for recipe, start in sorted(chosen, key=lambda rs: PRIORITY.index(rs[0].name) if rs[0].name in PRIORITY else -1):
            if results[recipe.name] is None:
                results[recipe.name] = bracket(lambda l1: run(ref, recipe, l1, acts, data, runs), start, args.target_l0)
    markdown = table([(recipe, results[recipe.name]) for recipe, _ in chosen], args.target_l0)
    print(markdown)
    if not args.only:
        write_section("recipe", f"{ABLATION_INTRO}\n\n{markdown}")


def table(rows: list[tuple[Recipe, dict | None]], target: float, speed: bool = False) -> str:
    """A Markdown table of metrics at L0 = ``target``; ``speed`` adds training tokens/s (meaningful only
    when nothing else ran on the machine)."""
    head = (f"| recipe (at L0 {target:g}) | L1 coefficient | L0 | EV | CE loss recovered | loss increase (nats) | "
            f"increase % of clean | KL(clean ‖ SAE) | dead % | dense % |")
    lines = [head + (" tokens/s |" if speed else ""), "|---" * (head.count("|") - 1 + speed) + "|"]
    for recipe, m in rows:
        if m is None:
            lines.append(f"| {recipe.name} | not measured yet |" + " |" * (8 + speed))
            continue
        coefficient = f"{m['l1_coeff']:.2f}" if m["l1_coeff"] is not None else f"none (k = {m['k']})"
        increase = m["ce_sae"] - m["ce_clean"]
        kl = f"{m['kl']:.3f}" if "kl" in m else "not in this cached run"
        line = (f"| {recipe.name} | {coefficient} | {m['l0']:.1f} | {m['explained_variance']:.3f} | {m['ce_recovered']:.3f} | "
                f"{increase:.3f} | {100 * increase / m['ce_clean']:.1f} | {kl} | {m['dead_pct']:.1f} | {m['dense_pct']:.2f} |")
        lines.append(line + (f" {m['tokens_per_s'] / 1000:.1f}k |" if speed else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
