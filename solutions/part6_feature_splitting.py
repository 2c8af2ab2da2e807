# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Part 6 — Feature splitting
#
# How many features does a layer of a language model have? An SAE answers with its width, and a
# wider SAE answers with more. What the extra latents are is the question of this part. Train the
# same recipe at several widths and a latent of the narrow SAE often reappears in the wide one as
# a **family**: two or more latents whose decoder directions sit close to the narrow one's, each
# firing on a different part of what the narrow latent fired on. The narrow SAE's "feature" was a
# union that the wider dictionary can afford to split. In this part you will
# 1. train SAEs of **2x, 4x and 8x** `d_model` latents (16x optional) on the same activations at
#    **comparable L0**, choosing each L1 coefficient so that L0 lands in a stated band, and
#    compare explained variance, CE loss recovered, dead and dense latents against width;
# 2. **match** latents across widths by decoder direction: for every narrow latent its nearest wide
#    ones, the distribution of best-match cosines, and the wide latents with no close parent;
# 3. find **split families**: a narrow latent with several close wide children that together fire
#    where the parent fired, each on a distinct part, and read a few side by side;
# 4. measure **the price of L1**: a TopK SAE at the same width and L0, whose sparsity costs no
#    penalty on code sizes, against the ReLU SAE, whose codes the L1 penalty shrinks.
#
# > **What the original exercise got wrong.** It trained three widths for 20 epochs on about a
# > hundred tokens, at whatever sparsity each happened to reach, and tabulated training loss and
# > L0. Widths compared at different L0 say nothing about width (a denser SAE always reconstructs
# > better), a loss on the training tokens says how well the SAE memorised them, and it never
# > looked at the features, which is where splitting happens. Here the widths are compared at
# > matched L0 on held-out tokens, and the features are matched across widths.
#
# The SAEs are trained with Part 2's recipe (`saecourse.training`, the same code as Part 2's
# reference `train_sae`) on Part 2's cached activations of SmolLM2's layer 15, and cached like
# the reference SAE: trained once, then read from the cache.

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from gradebox import checker
from saecourse import activations, corpus, interpret, models, saes, training
from saecourse.claims import expect
from saecourse.utils import save_figure, set_seed, set_threads, sized

check = checker("part6_feature_splitting")
set_threads()

# %% [markdown]
# ## 1. SAEs of several widths at comparable L0
#
# Every SAE here sees the same training budget: **2 epochs of Part 2's 200k training tokens**
# (a quarter of the reference SAE's 8), enough for the width series to train in about four minutes
# on two cores. They are evaluated on Part 2's 20k held-out tokens of the validation documents.

# %% tags=["demo"]
MODEL = models.resolve_model_name()
model, tokenizer = models.load_model(MODEL)
LAYER = models.n_layers(model) // 2
D_MODEL = model.config.hidden_size
N_TRAIN, N_VAL = sized(200_000, 4_000), sized(20_000, 2_000)
train_store = activations.cached_activations(MODEL, LAYER, "train", n_tokens=N_TRAIN)
val_store = activations.cached_activations(MODEL, LAYER, "val", n_tokens=N_VAL)
val_contexts = corpus.make_contexts(corpus.get_split("val"), tokenizer, ctx_len=128).tokens[: sized(32, 4)]
BUDGET = training.TrainConfig(epochs=sized(2, 1))  # Part 2's recipe, a quarter of its epochs
print(f"{len(train_store)} training and {len(val_store)} held-out activations of {MODEL}'s layer {LAYER} "
      f"(d_model {D_MODEL}); CE loss measured on {len(val_contexts)} held-out contexts of 128 tokens")

# %% [markdown]
# ### Choosing λ for a target L0
#
# A wider SAE with the same λ ends up *denser*: it has more latents to share each token. So λ must
# be chosen per width. Training is too slow to search for it, but one fact makes two runs enough:
# at a fixed budget the final L0 is close to a **power of λ**, `L0 ≈ C λ^a` with `a < 0`, a straight
# line in log-log coordinates (`log L0 = log C + a log λ`). Two runs at the same width and budget
# fix the line, and the line gives the λ for any target L0.
#
# **Exercise 1.1.** Given two runs `[(λ_1, L0_1), (λ_2, L0_2)]` (λ and the held-out L0 it reached,
# in either order), return the λ at which the power law through both reaches `target_l0`. The
# target need not lie between the two runs: the same line extrapolates (the 16x λ below is found
# that way, and should then be checked).

# %% nbgrader={"grade": false, "grade_id": "l1_for_l0", "locked": false, "schema_version": 3, "solution": true, "task": false}
def l1_for_l0(runs: list[tuple[float, float]], target_l0: float) -> float:
    """runs: two (λ, L0) pairs of one width and budget, λ > 0, L0 > 0, different λ. Returns the λ at which
    the power law L0 = C λ^a through both runs gives ``target_l0``."""
    ### BEGIN SOLUTION
    (lam_1, l0_1), (lam_2, l0_2) = runs
    slope = math.log(l0_2 / l0_1) / math.log(lam_2 / lam_1)  # a = d log L0 / d log λ
    return lam_1 * math.exp(math.log(target_l0 / l0_1) / slope)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_l1_for_l0", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_l1_for_l0")

# %% [markdown]
# `saes.calibrate_l1` does the whole calibration: it trains at λ = 5 and λ = 9 (both cached),
# measures L0 on held-out tokens and interpolates as your `l1_for_l0` should. Here at the narrowest
# width (about 70 seconds the first time, then from the cache), with your interpolation beside it:

# %% tags=["demo"]
L0_BAND = (40.0, 56.0)  # Part 2's reference SAE has L0 47 on these held-out tokens
TARGET_L0 = 47.0
TABLE_2X = {"runs": [(5.0, 120.9), (9.0, 53.6)], "l1_coeff": 9.90}  # the 1152-latent row of the table below


def held_out_l0(sae: nn.Module) -> float:
    """The mean number of latents that fire per held-out token."""
    with torch.no_grad():
        return training.l0_norm(sae.encode(val_store.acts))


calibration = saes.calibrate_l1(dataclasses.replace(BUDGET, d_sae=2 * D_MODEL), TARGET_L0, held_out_l0,
                                model_name=MODEL, layer=LAYER, n_tokens=N_TRAIN)
yours = l1_for_l0(calibration["runs"], TARGET_L0)
print("runs (λ, held-out L0):", [(l1, round(l0, 1)) for l1, l0 in calibration["runs"]])
print(f"λ for L0 {TARGET_L0:g} at {2 * D_MODEL} latents: {calibration['l1_coeff']:.2f} (calibrate_l1), {yours:.2f} (yours)")
expect(math.isclose(yours, calibration["l1_coeff"], rel_tol=1e-9), "your interpolation gives calibrate_l1's λ",
       yours=yours, calibrate_l1=calibration["l1_coeff"])
measured = [l0 for _, l0 in calibration["runs"]]
expect(all(abs(l0 - want) < 2.0 for l0, (_, want) in zip(measured, TABLE_2X["runs"]))
       and abs(calibration["l1_coeff"] - TABLE_2X["l1_coeff"]) < 0.15,
       "the table's 1152-latent row is what this run measured", L0_at_5=measured[0], L0_at_9=measured[1],
       l1_coeff=calibration["l1_coeff"]);

# %% [markdown]
# The same calibration at every width gave the λ below (measured on this model, layer and budget;
# the held-out L0 each reached is in the table further down). λ grows with width, about as
# `width^0.34` here. The 16x SAE is optional: it takes about five minutes more to train and its
# λ is extrapolated from the other three, so check its L0 against the band before you compare it.
#
# | latents | λ = 5: L0 | λ = 9: L0 | λ for L0 47 |
# |---|---|---|---|
# | 1152 (2x) | 120.9 | 53.6 | 9.90 |
# | 2304 (4x) | 153.4 | 70.8 | 12.28 |
# | 4608 (8x) | 199.0 | 95.5 | 15.9 |
# | 9216 (16x) | | | 21 (extrapolated) |
#
# Each width gets its own seed. With one seed for all, the first 1152 initial decoder directions
# of the 2304-latent SAE would be exactly the 1152-latent SAE's (`torch.randn(2304, 576)` starts
# with the rows of `torch.randn(1152, 576)`), and section 2's matching would partly rediscover the
# shared initialisation.

# %% tags=["demo"]
WITH_16X = False  # True: add the 16x SAE (about five more minutes the first time)
L1_FOR_WIDTH = {2: 9.90, 4: 12.28, 8: 15.9, 16: 21.0}  # multiples of d_model -> λ for L0 47 at BUDGET
WIDTHS = [m * D_MODEL for m in L1_FOR_WIDTH if m < 16 or WITH_16X]
width_saes = {
    d_sae: saes.cached_sae(dataclasses.replace(BUDGET, d_sae=d_sae, l1_coeff=L1_FOR_WIDTH[d_sae // D_MODEL],
                                               seed=d_sae // D_MODEL), MODEL, LAYER, N_TRAIN)
    for d_sae in tqdm(WIDTHS, desc="width series")
}

# %% [markdown]
# The width table measures every SAE with Part 2's `evaluate` (`saecourse.training.evaluate`) on the
# **held-out** activations and, for the losses, on held-out contexts, leaving out the first
# `skip_first` positions as Part 2 did (the attention sink would dominate the loss otherwise).
# Beside CE loss recovered it gives the **loss increase** in nats (and in % of the clean loss) and
# the **KL divergence** of the patched model's next-token distribution from the clean one's: CE
# loss recovered divides by what zero-ablating the layer costs, and a large cost makes any SAE
# look good, so the increase itself says what splicing the SAE in costs the model. The
# zero-ablated loss is the same for every SAE and costs a forward pass over all the tokens (about
# 15 seconds here), so it is measured with the first SAE and passed to the rest
# (`ce_loss_recovered`'s `zero_ablated`). `in_band` says
# whether the **held-out** L0 lies in the band: the L0 that training logged last
# (`sae.cfg["metadata"]["final_l0"]`) is measured on training batches under a still-decaying
# learning rate, and is not the number to check.

# %%
def width_table(width_saes: dict[int, nn.Module], acts: Tensor, model: nn.Module, tokens: Tensor, layer: int,
                skip_first: int, band: tuple[float, float], zero_ablated: float | None = None) -> dict[int, dict[str, float]]:
    """acts: [n, d_model] held-out activations, tokens: [batch, seq] held-out contexts. Returns, for each
    width, Part 2's ``evaluate`` row ("l0", "explained_variance", "ce_recovered", "ce_increase" in nats and
    "ce_increase_pct" of the clean loss, "ce_kl", "ce_clean", "ce_zero_ablated", "dead_fraction",
    "dense_fraction"), with "l1_coeff" and "in_band". ``zero_ablated``: the zero-ablated loss on these
    tokens if known, else measured with the first SAE."""
    low, high = band
    table = {}
    for d_sae, sae in width_saes.items():
        row = training.evaluate(sae, acts, model, tokens, layer, skip_first, zero_ablated)
        zero_ablated = row["ce_zero_ablated"]
        table[d_sae] = {**row, "l1_coeff": sae.cfg["metadata"]["train_config"]["l1_coeff"],
                        "in_band": low <= row["l0"] <= high}
    return table


# %% [markdown]
# The table, with the reference SAE (4x, trained four times longer) as a last row, and the
# "capacity" plot:

# %% tags=["demo"]
reference = saes.reference_sae(MODEL, LAYER)
table = width_table(width_saes, val_store.acts, model, val_contexts, LAYER, skip_first=4, band=L0_BAND)
reference_row = width_table({reference.d_sae: reference}, val_store.acts, model, val_contexts, LAYER, 4, L0_BAND,
                            table[min(WIDTHS)]["ce_zero_ablated"])
first = table[min(WIDTHS)]
print(f"next-token loss on the held-out contexts: clean {first['ce_clean']:.3f} nats, layer {LAYER} zero-ablated "
      f"{first['ce_zero_ablated']:.3f} nats")
print(f"{'latents':>8s} {'epochs':>6s} {'λ':>6s} {'L0':>6s} {'EV':>6s} {'CE rec':>7s} {'+nats':>6s} {'+%':>5s} {'KL':>6s} "
      f"{'dead %':>7s} {'dense %':>8s}  in band {L0_BAND}")
for epochs, rows in ((BUDGET.epochs, table), (reference.cfg["metadata"]["train_config"]["epochs"], reference_row)):
    for d_sae, row in rows.items():
        print(f"{d_sae:8d} {epochs:6d} {row['l1_coeff']:6.2f} {row['l0']:6.1f} {row['explained_variance']:6.3f} "
              f"{row['ce_recovered']:7.3f} {row['ce_increase']:6.3f} {row['ce_increase_pct']:5.1f} {row['ce_kl']:6.3f} "
              f"{100 * row['dead_fraction']:7.2f} {100 * row['dense_fraction']:8.2f}  {row['in_band']}")
out_of_band = [d for d, row in table.items() if not row["in_band"]]
if out_of_band:
    print(f"L0 outside the band at {out_of_band} latents: recalibrate λ there (saes.calibrate_l1) before comparing")

fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
for ax, (key, label) in zip(axes, [("explained_variance", "explained variance"), ("ce_recovered", "CE loss recovered"),
                                   ("ce_kl", "KL from the clean model (nats)"), ("dead_fraction", "dead / dense fraction")]):
    series = "dead (never fires on held-out tokens)" if key == "dead_fraction" else f"{BUDGET.epochs} epochs, L0 in {L0_BAND}"
    ax.plot(WIDTHS, [table[d][key] for d in WIDTHS], marker="o", label=series)
    if key == "dead_fraction":
        ax.plot(WIDTHS, [table[d]["dense_fraction"] for d in WIDTHS], marker="s", label="dense (fires on > 10%)")
    else:
        ax.plot([reference.d_sae], [reference_row[reference.d_sae][key]], marker="*", markersize=12, linestyle="",
                label=f"reference SAE, {reference.cfg['metadata']['train_config']['epochs']} epochs")
    ax.set_xscale("log", base=2), ax.set_xlabel("latents"), ax.set_title(label), ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "part6_width_table")

# %% [markdown]
# How many training examples does a latent see? A latent fires on `L0 / d_sae` of the tokens on
# average, so over training it sees about `L0 / d_sae × training tokens` examples:

# %% tags=["demo"]
def examples_per_latent(l0: float, d_sae: int, training_tokens: int) -> float:
    """The mean number of training tokens each latent fires on, at its held-out firing rate L0 / d_sae."""
    return l0 / d_sae * training_tokens


eight_x, ref_row = 8 * D_MODEL, reference_row[reference.d_sae]  # the 8x SAE, whose figures the text quotes
reference_tokens = len(train_store) * reference.cfg["metadata"]["train_config"]["epochs"]
seen = {d: examples_per_latent(table[d]["l0"], d, width_saes[d].cfg["metadata"]["training_tokens"]) for d in WIDTHS}
seen_reference = examples_per_latent(ref_row["l0"], reference.d_sae, reference_tokens)
for d in WIDTHS:
    print(f"{d:5d} latents, {BUDGET.epochs} epochs: each fires on {table[d]['l0'] / d:.2%} of tokens, "
          f"about {seen[d]:,.0f} training examples")
print(f"reference ({reference.d_sae}, {reference.cfg['metadata']['train_config']['epochs']} epochs): "
      f"{ref_row['l0'] / reference.d_sae:.2%}, about {seen_reference:,.0f}; {seen_reference / seen[eight_x]:.1f} times the {eight_x}-latent SAE's")
expect(first["ce_zero_ablated"] - first["ce_clean"] > 3, f"zero-ablating layer {LAYER} costs several nats",
       cost=first["ce_zero_ablated"] - first["ce_clean"])
expect(all(row["ce_recovered"] > 0.9 and row["ce_increase_pct"] > 1 for row in table.values()),
       "every SAE recovers over 90% of the CE loss and still raises the loss by more than 1% of the clean loss",
       **{f"CE_rec_{d}": row["ce_recovered"] for d, row in table.items()},
       **{f"increase_pct_{d}": row["ce_increase_pct"] for d, row in table.items()})
expect(all(row["in_band"] for row in table.values()), f"every width's held-out L0 lies in the band {L0_BAND}",
       **{f"L0_{d}": row["l0"] for d, row in table.items()})
expect(table[eight_x]["explained_variance"] < table[min(WIDTHS)]["explained_variance"] + 0.01,
       "at this budget the wider SAEs do not reconstruct better", **{f"EV_{d}": table[d]["explained_variance"] for d in WIDTHS})
expect(0.007 < table[eight_x]["l0"] / eight_x < 0.013 and 3_000 < seen[eight_x] < 5_500,
       f"each of the {eight_x} latents fires on about 1% of tokens and sees about four thousand examples",
       firing_rate=table[eight_x]["l0"] / eight_x, examples=seen[eight_x])
expect(6 < seen_reference / seen[eight_x] < 10, f"the reference's latents see about eight times as many examples as the "
       f"{eight_x}-latent SAE's", ratio=seen_reference / seen[eight_x])
expect(ref_row["explained_variance"] > table[reference.d_sae]["explained_variance"] + 0.01
       and ref_row["ce_kl"] < table[reference.d_sae]["ce_kl"],
       f"at {reference.d_sae} latents the reference's longer run reconstructs better and changes the output less",
       EV_reference=ref_row["explained_variance"], EV_2_epochs=table[reference.d_sae]["explained_variance"],
       KL_reference=ref_row["ce_kl"], KL_2_epochs=table[reference.d_sae]["ce_kl"]);

# %% [markdown]
# First, what the loss columns say together. Zero-ablating the layer costs several nats, so CE
# loss recovered is near 1 for every SAE (above 0.9), yet every one of them still raises the
# model's loss by more than 1% of the clean loss: the increase and the KL are the honest measures
# of what splicing an SAE in costs, and the ones to compare across SAEs.
#
# Read the table before believing the plot's slope. At this budget the wider SAEs do **not**
# reconstruct better: each of the 4608 latents fires on about 1% of tokens, so in 400k training
# tokens it sees about four thousand examples, while the reference SAE's latents fire about twice
# as often and train four times longer, about eight times as many examples (the ratio printed
# above); the reference row shows what a longer run buys at 2304. Width pays off only when
# training grows with it. What width changes even here is *which* features the SAE finds, and
# that is the rest of this part.

# %% [markdown]
# ## 2. Matching latents across widths
#
# Two SAEs trained on the same activations have no common numbering, but their decoder directions
# live in the same space: latent `i` of one and latent `j` of the other write along nearly the
# same direction when the cosine of their decoder rows is near 1. (The encoder rows are not the
# right objects: an encoder row is a *detector*, tuned to cancel whatever other latents fire with
# it, so it changes with the rest of the dictionary even when the feature does not.)
#
# **Exercise 2.1.** For every latent of the narrow SAE, the `k` latents of the wide SAE with the
# largest decoder cosine, best first. Decoder rows here have unit norm, but normalise anyway: an
# SAE loaded from elsewhere may not. (The SAEs follow SAELens's layout: `W_dec` is
# `[d_sae, d_model]`, one row per latent; `W_enc` is `[d_model, d_sae]`.)

# %% nbgrader={"grade": false, "grade_id": "decoder_matches", "locked": false, "schema_version": 3, "solution": true, "task": false}
def decoder_matches(narrow: nn.Module, wide: nn.Module, k: int) -> tuple[Tensor, Tensor]:
    """narrow: an SAE with n latents, wide: one with m. Returns (cosines [n, k], wide indices [n, k])."""
    ### BEGIN SOLUTION
    cosines = F.normalize(narrow.W_dec, dim=-1) @ F.normalize(wide.W_dec, dim=-1).T  # [n, m]
    best = cosines.topk(k, dim=-1)
    return best.values, best.indices
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_decoder_matches", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_decoder_matches")

# %% [markdown]
# **Exercise 2.2.** The other way round: the latents of the wide SAE whose best cosine with *any*
# narrow latent is below `threshold`, new features that the narrow SAE has no version of.

# %% nbgrader={"grade": false, "grade_id": "new_features", "locked": false, "schema_version": 3, "solution": true, "task": false}
def new_features(narrow: nn.Module, wide: nn.Module, threshold: float) -> Tensor:
    """narrow: an SAE with n latents, wide: one with m. Returns the wide latents' indices, ascending: [n_new]."""
    ### BEGIN SOLUTION
    best = decoder_matches(wide, narrow, 1)[0][:, 0]  # [m]: each wide latent's best narrow cosine
    return torch.nonzero(best < threshold).squeeze(1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_new_features", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
check("test_new_features")

# %% [markdown]
# The best-match cosine of every narrow latent in each wider SAE, against a control: the best
# cosine of a random unit direction with the same wide decoder (in 576 dimensions a random
# direction is nearly orthogonal to everything, so its best match is the floor).

# %% tags=["demo"]
PAIRS = [(a, b) for i, a in enumerate(WIDTHS) for b in WIDTHS[i + 1:]]
NEW_THRESHOLD = 0.5
random_directions = F.normalize(torch.randn(1000, D_MODEL, generator=torch.Generator().manual_seed(0)), dim=-1)
matching = {}  # (narrow, wide) -> the figures printed below
fig, axes = plt.subplots(1, len(PAIRS), figsize=(4.5 * len(PAIRS), 3.2), squeeze=False)
for ax, (narrow, wide) in zip(axes[0], PAIRS):
    best = decoder_matches(width_saes[narrow], width_saes[wide], 1)[0][:, 0]
    floor = (random_directions @ width_saes[wide].W_dec.T).amax(-1)  # unit rows both sides
    new = new_features(width_saes[narrow], width_saes[wide], NEW_THRESHOLD)
    matching[narrow, wide] = {"median": best.median().item(), "floor_median": floor.median().item(),
                              "floor_max": floor.max().item(), "above_0.9": (best > 0.9).float().mean().item(),
                              "new": len(new) / wide}
    ax.hist(best, bins=50, range=(0, 1), alpha=0.8, label=f"{narrow} latents in {wide}")
    ax.hist(floor, bins=50, range=(0, 1), alpha=0.6, label="random directions")
    ax.set_xlabel("best decoder cosine"), ax.set_title(f"{narrow} → {wide}"), ax.legend(fontsize=8)
    print(f"{narrow} → {wide}: median best cosine {best.median():.3f} (random directions {floor.median():.3f}, "
          f"at most {floor.max():.3f}); {(best > 0.9).float().mean():.0%} of narrow latents have a match above 0.9; "
          f"{len(new)} of {wide} wide latents ({len(new) / wide:.0%}) have no narrow latent above {NEW_THRESHOLD}")
fig.tight_layout()
save_figure(fig, "part6_best_matches")
expect(max(m["floor_max"] for m in matching.values()) < 0.3, "no random direction has a best match above 0.3",
       random_max=max(m["floor_max"] for m in matching.values()))
expect(all(m["median"] > m["floor_max"] + 0.2 for m in matching.values()),
       "in every pair the median narrow latent's best match lies far above the best match of any random direction",
       **{f"median_{a}_{b}": m["median"] for (a, b), m in matching.items()},
       random_max=max(m["floor_max"] for m in matching.values()))
expect(all(0.1 <= m["above_0.9"] for m in matching.values()),
       "in every pair over a tenth of the narrow latents reappear almost unchanged (a match above 0.9)",
       **{f"above_0.9_{a}_{b}": m["above_0.9"] for (a, b), m in matching.items()})
expect(all(0.001 <= m["new"] <= 0.3 for m in matching.values()),
       f"in every pair some but under 30% of the wide latents are new (no narrow latent above {NEW_THRESHOLD})",
       **{f"new_{a}_{b}": m["new"] for (a, b), m in matching.items()});

# %% [markdown]
# Read the two histograms of each pair against each other. A random direction's best match stays
# below a cosine of 0.3: in 576 dimensions even the best of thousands of decoder rows is nearly
# orthogonal to it. The narrow latents' best matches sit far above that floor, and over a tenth of
# them (the share printed for each pair) have a near-copy (above 0.9) in the wider SAE: the same
# feature, found again by a separately seeded run. The rest match their best wide latent only
# partly (a parent whose tokens are now shared among several children, the next section's
# families), and a minority of the wide latents (under 30%, the figures above) match no narrow
# latent at all: new features, which the narrow SAE could not afford.

# %% [markdown]
# ## 3. Split families
#
# A close decoder direction is not yet a split. A **family** is a narrow latent (the parent) and
# two or more wide latents (its children) such that
# 1. each child's decoder cosine with the parent is above `cos_threshold` (children listed by
#    cosine, largest first);
# 2. the children **cover** the parent: of the tokens where the parent fires, at least a fraction
#    `coverage` are tokens where at least one child fires;
# 3. the children are **distinct**: for every two children, the tokens both fire on are less than
#    a fraction `overlap` of the tokens the rarer of the two fires on.
#
# Without (2) two latents that point near the parent but fire elsewhere would count; without (3)
# two near-copies firing on the same tokens would (that is a duplicate, not a split).
#
# **Exercise 3.1.** All families, as `(parent, [children])` pairs in ascending order of parent.
# `fires_narrow` and `fires_wide` say which latents fire on each of the same tokens.

# %% nbgrader={"grade": false, "grade_id": "split_families", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_families(narrow: nn.Module, wide: nn.Module, fires_narrow: Tensor, fires_wide: Tensor, cos_threshold: float,
                   coverage: float, overlap: float) -> list[tuple[int, list[int]]]:
    """narrow, wide: SAEs with n and m latents; fires_narrow: [n_tokens, n], fires_wide: [n_tokens, m] bool."""
    ### BEGIN SOLUTION
    cosines, order = decoder_matches(narrow, wide, wide.W_dec.shape[0])  # [n, m]: every wide latent, by cosine
    by_parent, by_child = fires_narrow.T.contiguous(), fires_wide.T.contiguous()  # one latent's tokens per row
    families = []
    for parent in range(len(by_parent)):
        children = order[parent, cosines[parent] > cos_threshold]
        if len(children) < 2:
            continue
        parent_fires, child_fires = by_parent[parent], by_child[children].float()  # [n_tokens], [n_children, n_tokens]
        covered = (child_fires.sum(0) > 0) & parent_fires
        if parent_fires.sum() == 0 or covered.sum() < coverage * parent_fires.sum():
            continue
        shared = child_fires @ child_fires.T  # [c, c]: tokens each two children both fire on
        counts = child_fires.sum(1)
        rarer = torch.minimum(counts[:, None], counts[None, :]).clamp(min=1)
        if ((shared / rarer).fill_diagonal_(0) >= overlap).any():
            continue
        families.append((parent, children.tolist()))
    return families
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_split_families", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check("test_split_families")
### BEGIN HIDDEN TESTS
check("test_split_families_with_a_silent_parent")
### END HIDDEN TESTS

# %% [markdown]
# Families in every width pair, on the held-out tokens:

# %% tags=["demo"]
COS_THRESHOLD, COVERAGE, OVERLAP = 0.6, 0.7, 0.5
with torch.no_grad():
    codes = {d_sae: sae.encode(val_store.acts) for d_sae, sae in width_saes.items()}  # [n_val, d_sae] each
fires = {d_sae: c > 0 for d_sae, c in codes.items()}
families = {(narrow, wide): split_families(width_saes[narrow], width_saes[wide], fires[narrow], fires[wide],
                                           COS_THRESHOLD, COVERAGE, OVERLAP) for narrow, wide in tqdm(PAIRS, desc="families")}
for (narrow, wide), found in families.items():
    sizes = torch.tensor([len(children) for _, children in found] or [0])
    print(f"{narrow} → {wide}: {len(found)} split families ({len(found) / narrow:.1%} of the narrow latents), "
          f"{sizes.sum()} children, largest {sizes.max()}")
first_pair = PAIRS[0]
expect(len(families[first_pair]) >= 20, f"the {first_pair[0]} → {first_pair[1]} pair has dozens of split families (20 or more)",
       families=len(families[first_pair]));

# %% [markdown]
# The count is a function of the three thresholds, not a fact about the model. For the first pair:

# %% tags=["demo"]
narrow, wide = PAIRS[0]
print(f"{narrow} → {wide}, families at overlap < {OVERLAP}:")
print("cos threshold  " + "".join(f"coverage {c:.1f}  " for c in (0.6, 0.7, 0.8)))
grid = {}  # (cos threshold, coverage) -> the number of families
for threshold in (0.5, 0.6, 0.7):
    for c in (0.6, 0.7, 0.8):
        grid[threshold, c] = len(split_families(width_saes[narrow], width_saes[wide], fires[narrow], fires[wide], threshold,
                                                c, OVERLAP))
    print(f"{threshold:13.1f}  " + "".join(f"{grid[threshold, c]:12d}  " for c in (0.6, 0.7, 0.8)))
expect(max(grid.values()) >= 2 * max(1, min(grid.values())),
       "within these thresholds the count changes at least twofold", fewest=min(grid.values()), most=max(grid.values()));

# %% [markdown]
# Across this small grid of thresholds the count changes at least twofold (the figures above): a
# number of split families is a statement about the SAEs *and* the thresholds, to be reported with
# them, never a count of something the model has.

# %% [markdown]
# A few families side by side: those whose parent Part 3's protocol explains best (the held-out
# correlation of its token-list explanation), since a parent that a list of tokens describes is
# one whose split a reader can check. Each latent's line gives its firing rate on the held-out
# tokens, its explanation (the tokens that carry its top windows) and its top examples, the token
# it fires on in brackets; for a child, its decoder cosine with the parent and the share of the
# parent's firing tokens it fires on.

# %% tags=["demo"]
protocol = interpret.Protocol.of(val_store, n_top=sized(20, 5))


def example(row: int) -> str:
    """The text around held-out row ``row``, its token in brackets."""
    return corpus.marked(tokenizer, corpus.document_tokens(tokenizer, val_store.doc_ids[row]), int(val_store.positions[row]))


def describe(values: Tensor, n_examples: int = 3) -> str:
    """values: [n_val] one latent's codes on the held-out tokens."""
    explanation = corpus.token_set(tokenizer, protocol.explain(values))
    rows = values.topk(n_examples).indices.tolist()
    return f"fires on {(values > 0).float().mean():.2%}; {explanation}\n" + "\n".join(f"        {example(r)!r}" for r in rows)




def explained(values: Tensor) -> float:
    """values: [n_val] -> the held-out Pearson correlation of the latent's token-list explanation."""
    return protocol.score(values, protocol.explain(values))["pearson"]


shown = sorted(families[(narrow, wide)], key=lambda f: -explained(codes[narrow][:, f[0]]))[: sized(4, 1)]
if not shown:  # none at this size (a smoke run trains a few steps): latent 0 and its two best matches instead
    shown = [(0, decoder_matches(width_saes[narrow], width_saes[wide], 2)[1][0].tolist())]
cosines = F.normalize(width_saes[narrow].W_dec, dim=-1) @ F.normalize(width_saes[wide].W_dec, dim=-1).T
for parent, children in shown:
    parent_fires = fires[narrow][:, parent]
    print(f"parent {parent} ({narrow} latents), explanation's held-out correlation {explained(codes[narrow][:, parent]):.2f}: "
          f"{describe(codes[narrow][:, parent])}")
    for child in children:
        share = (fires[wide][:, child] & parent_fires).sum() / parent_fires.sum()
        print(f"   child {child} ({wide}), cosine {cosines[parent, child]:.2f}, on {share:.0%} of the parent's tokens: "
              f"{describe(codes[wide][:, child])}")
    print()

# %% [markdown]
# ## 4. The price of L1: a TopK SAE
#
# The L1 penalty asks for sparsity by making every nonzero code *pay for its size*. So codes come
# out smaller than the reconstruction wants (**shrinkage**), and the encoder bias must do double
# duty: it sets both which latents fire and by how much. A **TopK SAE** (Gao et al. 2024) takes
# sparsity out of the loss: it keeps the `k` largest pre-activations of each token, sets the rest to
# zero, and trains on the reconstruction error alone. L0 is `k` (or less) by construction, so there
# is no λ to calibrate.
#
# **Exercise 4.1.** `TopKSAE.encode`: the pre-activations `(x - b_dec) W_enc + b_enc`, of each row
# only the `k` largest kept (`Tensor.topk` along the latent dimension and `scatter` into zeros), then
# a ReLU, so that a row whose k-th largest pre-activation is negative keeps fewer than `k` codes
# (the ReLU may as well come first: the codes are the same).

# %% nbgrader={"grade": false, "grade_id": "TopKSAE", "locked": false, "schema_version": 3, "solution": true, "task": false}
class TopKSAE(nn.Module):
    """A TopK SAE in SAELens's layout: W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in] (unit rows), b_dec [d_in]."""

    def __init__(self, d_in: int, d_sae: int, k: int):
        super().__init__()
        rows = F.normalize(torch.randn(d_sae, d_in), dim=-1)
        self.W_dec = nn.Parameter(rows)
        self.W_enc = nn.Parameter(rows.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.k = k

    def encode(self, x: Tensor) -> Tensor:
        """x: [..., d_in] -> z: [..., d_sae] with at most k nonzero codes per row."""
        ### BEGIN SOLUTION
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        top = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, F.relu(top.values))
        ### END SOLUTION

    def decode(self, z: Tensor) -> Tensor:
        return z @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.encode(x)
        return self.decode(z), z


# %% nbgrader={"grade": true, "grade_id": "test_topk_encode", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_topk_encode")

# %% [markdown]
# **Exercise 4.2.** One training step of the TopK SAE on a batch `x`: the loss is the squared
# reconstruction error alone (summed over `d_in`, averaged over the batch, as in Part 2), then the
# step as in Part 2 (old gradients zeroed, back-propagation, the gradient norm clipped to
# `max_grad_norm`, the optimizer's step). Without a penalty on codes, nothing fixes the scale of a
# decoder row against its code, so end by **renormalising every decoder row to unit norm** (in
# place, without gradient). Return the loss as a float.

# %% nbgrader={"grade": false, "grade_id": "topk_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def topk_step(sae: TopKSAE, x: Tensor, optimizer: torch.optim.Optimizer, max_grad_norm: float) -> float:
    """x: [batch, d_in]."""
    ### BEGIN SOLUTION
    x_hat, _ = sae(x)
    loss = (x_hat - x).square().sum(-1).mean()
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(sae.parameters(), max_grad_norm)
    optimizer.step()
    with torch.no_grad():
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_topk_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_topk_step")

# %% [markdown]
# The TopK SAE at the reference's width, with `k` at the reference's L0, trained on the same
# activations with the same budget, batches and learning-rate schedule as the 4x ReLU SAE above
# (about 90 seconds at full size):

# %%
def train_topk(acts: Tensor, d_sae: int, k: int, cfg: training.TrainConfig, progress: bool = True) -> TopKSAE:
    """acts: [n, d_in]. The same batches, epochs and learning-rate schedule as Part 2's trainer."""
    set_seed(cfg.seed)
    sae = TopKSAE(acts.shape[1], d_sae, k)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    steps_per_epoch = len(acts) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    bar = tqdm(total=total, desc=f"TopK SAE, k = {k}", disable=not progress)
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(acts))
        for i in range(steps_per_epoch):
            for group in optimizer.param_groups:
                group["lr"] = training.learning_rate(epoch * steps_per_epoch + i, total, cfg.lr, cfg.lr_decay_frac)
            loss = topk_step(sae, acts[order[i * cfg.batch_size: (i + 1) * cfg.batch_size]], optimizer, cfg.max_grad_norm)
            bar.set_postfix(mse=f"{loss:.0f}")
            bar.update()
    bar.close()
    return sae.requires_grad_(False)


# %% tags=["demo"]
RELU = width_saes[4 * D_MODEL]
K = round(table[4 * D_MODEL]["l0"])
topk = train_topk(train_store.acts, RELU.d_sae, K, BUDGET)

# %% [markdown]
# **Exercise 4.3.** Shrinkage, in two numbers:
# * `norm_ratio`: the mean over tokens of `‖x̂ - b_dec‖ / ‖x - b_dec‖`, the length of what the codes
#   write against the length of what they should write. (Measured from `b_dec`: the residual stream
#   has a large mean that `b_dec` holds, and `‖x̂‖ / ‖x‖` would be near 1 whatever the codes do.)
#   Tokens where no latent fires (`x̂ = b_dec`) are left out: they are not reconstructed at all.
# * `best_scale`: the single number `s` that minimises `Σ ‖(x - b_dec) - s (x̂ - b_dec)‖²` over all
#   tokens, `s* = Σ ⟨x - b_dec, x̂ - b_dec⟩ / Σ ‖x̂ - b_dec‖²`. Multiplying every code by `s*` is the
#   best rescaling; `s* > 1` means the codes are too small.

# %% nbgrader={"grade": false, "grade_id": "shrinkage", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shrinkage(x: Tensor, x_hat: Tensor, b_dec: Tensor) -> dict[str, float]:
    """x, x_hat: [n, d_in], b_dec: [d_in]. Returns {"norm_ratio", "best_scale"}."""
    ### BEGIN SOLUTION
    target, written = x - b_dec, x_hat - b_dec
    lengths = written.norm(dim=-1)
    reconstructed = lengths > 0
    ratio = (lengths[reconstructed] / target[reconstructed].norm(dim=-1)).mean().item()
    return {"norm_ratio": ratio, "best_scale": ((target * written).sum() / written.square().sum()).item()}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_shrinkage", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_shrinkage")

# %% [markdown]
# The two SAEs side by side on the held-out tokens:

# %% tags=["demo"]
price = table[RELU.d_sae]
topk_row = training.evaluate(topk, val_store.acts, model, val_contexts, LAYER, 4, first["ce_zero_ablated"])
print(f"{'SAE':18s} {'L0':>6s} {'EV':>6s} {'CE rec':>7s} {'KL':>6s} {'dead %':>7s} {'‖x̂-b‖/‖x-b‖':>13s} {'best scale':>11s} "
      f"{'mean code':>10s} {'rescaled':>9s}")
scales = {}
for name, label, sae, row in (("relu", f"ReLU + L1, λ {price['l1_coeff']:.2f}", RELU, price),
                              ("topk", f"TopK, k = {K}", topk, topk_row)):
    with torch.no_grad():
        x_hat, z = sae(val_store.acts)
    shrunk = scales[name] = shrinkage(val_store.acts, x_hat, sae.b_dec)
    mean_code = z[z > 0].mean().item()
    print(f"{label:18s} {row['l0']:6.1f} {row['explained_variance']:6.3f} {row['ce_recovered']:7.3f} {row['ce_kl']:6.3f} "
          f"{100 * row['dead_fraction']:7.2f} {shrunk['norm_ratio']:13.3f} {shrunk['best_scale']:11.3f} "
          f"{mean_code:10.2f} {mean_code * shrunk['best_scale']:9.2f}")
relu_scale, topk_scale = scales["relu"]["best_scale"], scales["topk"]["best_scale"]
expect(relu_scale > 1.05 and abs(topk_scale - 1) < 0.05 and abs(topk_scale - 1) < (relu_scale - 1) / 2,
       "the ReLU SAE's codes are too small (best scale above 1), the TopK SAE's best scale is near 1",
       relu=relu_scale, topk=topk_scale)
expect(abs(topk_row["l0"] - price["l0"]) < 2, "the two SAEs have the same L0", relu=price["l0"], topk=topk_row["l0"])
expect(topk_row["explained_variance"] > price["explained_variance"] + 0.01 and topk_row["ce_kl"] < price["ce_kl"],
       "at the same width, L0 and budget the TopK SAE reconstructs better and changes the output less",
       EV_relu=price["explained_variance"], EV_topk=topk_row["explained_variance"], KL_relu=price["ce_kl"], KL_topk=topk_row["ce_kl"])
expect(topk_row["dead_fraction"] < 0.01, "at this width and budget under 1% of the TopK SAE's latents are dead",
       dead=topk_row["dead_fraction"]);

# %% [markdown]
# The ReLU SAE's codes are too small: rescaling all of them by one number improves its
# reconstruction, which an unbiased code would not allow, while the TopK SAE's best scale is near 1.
# At the same width, L0 and training budget, the TopK SAE also reconstructs better and moves the
# model's next-token distribution less (the KL column). What it costs: `k` is the same for every
# token, where the L1 SAE spends more latents on complex tokens and fewer on simple ones;
# **BatchTopK** (Bussmann et al. 2024) relaxes that by keeping the `k × batch` largest
# pre-activations of a whole batch, so that L0 is `k` on average and varies from token to token
# (at inference a single threshold estimated in training replaces the batch).
#
# TopK also changes how latents die. A latent that is never among a token's `k` largest gets no
# gradient at all (the discarded pre-activations are constants), so one that falls out of every
# top `k` stays out, and wide TopK SAEs can lose a large share of their latents this way. Gao et
# al. (2024) prevent it with two measures: the encoder **initialised as the decoder's transpose**
# (as `TopKSAE` here), and an **auxiliary loss, AuxK**, that reconstructs the residual of the
# main reconstruction, `x - x̂`, from the `k_aux` largest pre-activations of the *dead* latents
# (those that have not fired for a set number of tokens), which gives exactly those latents a
# gradient toward what the SAE misses. With both, only 7% of the latents of their largest SAE (16
# million latents) were dead. Our TopK SAE has the tied initialisation but no AuxK; at this width
# and budget few of its latents die (the dead fraction above). JumpReLU SAEs (Rajamanoharan et
# al. 2024) keep a variable L0 and fix shrinkage with a learned threshold per latent.

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_how_many_features", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Question 5 (written, graded by hand).** "This layer has 2304 features" and "this layer has 4608
# features" cannot both be right. Using your families, the best-match distributions and the new
# features: what does an SAE's width measure, and what would you need to see before calling a
# latent a feature *of the model* rather than of this SAE?
#
# **Rubric (3 points).**
# - 1 point: width is a resolution, not a count, argued from this run: many narrow latents reappear almost unchanged in the wider SAE, others split into families whose children divide the parent's tokens, and some wide latents are new (quoting the best-match, family and new-feature figures).
# - 1 point: the family counts and the share of new features depend on the thresholds (cosine, coverage, overlap) and on the training budget, so neither is a property of the layer alone.
# - 1 point: a test for "a feature of the model": the latent (or its family) recurs across widths and seeds, and it is causally used (steering along it and ablating it change the output as its explanation predicts, Part 4); a latent found at one width or seed only describes this SAE.
#
# ### BEGIN SOLUTION
# *Model answer.* Width is a choice of resolution, not a count. In this run many narrow latents
# reappear almost unchanged in the wider SAE (the share with a best cosine above 0.9 is printed in
# section 2, over a tenth in every pair), others split into families whose children each take
# a distinct part of the parent's tokens (the 1152 → 2304 pair has dozens, section 3), and some of
# the wide latents have no narrow latent above cosine 0.5 (under 30% in every pair): new,
# rarer features that the narrow SAE could not afford and folded into others or left in its error.
# How many families there are changes at least twofold across a small grid of thresholds, so the
# counts describe the SAEs and the thresholds together. The SAE's width therefore sets how finely it
# cuts a hierarchy of features. A latent is a feature of the model, rather than an artefact of one
# dictionary, when it is stable across widths and seeds (the same decoder direction, the same
# firing), when it is causally used (Part 4: steering along it and ablating it change the output as
# its explanation predicts), and when its family structure is consistent (a parent that splits into
# children whose union covers the parent). A latent that exists at one width only, or whose
# direction moves between seeds, describes this SAE.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Widths compare only at matched L0 on held-out tokens; λ for a target L0 comes from two runs,
#   interpolated in log-log coordinates, and must be found again for every width and budget.
# * A wider SAE does not simply add features: many of its latents are *children* of a narrow latent,
#   splitting its tokens between them, and some are new.
# * Matching goes by decoder directions; a split needs coverage and distinct firing too, or
#   near-copies and unrelated neighbours count as families.
# * The L1 penalty shrinks codes; a TopK SAE at the same L0 does not, and reconstructs better.
# * Part 7 turns the course into a pipeline for a concept of your own.
