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
# # Part 5 — Comparing with other methods
#
# SAEs are not the only way to find a concept in a model. Two supervised methods find one direction
# per concept from labelled examples: a **steering vector**, here the difference between the mean
# activations of positive and negative examples, and a **linear probe**, a logistic regression that
# predicts the label from the activation. In this part you will build both for two real concepts
# and set the SAE's unsupervised dictionary against them:
# 1. a **mean-difference steering vector** and a **logistic-regression probe** at the SAE's layer,
#    trained on one set of documents, with the regularisation chosen on a validation set of other
#    documents, and evaluated (accuracy and AUROC) on documents neither has seen;
# 2. **decompose** each direction into SAE features: its cosine with every decoder direction, the
#    top features with their Part 3 explanations, and how much of it the best `k` decoder
#    directions span;
# 3. **sparse probing**: probes that may read only `k` SAE latents, against the full probe and
#    against `k` random latents;
# 4. **steering compared**: add the steering vector, the probe direction and the top SAE feature,
#    each at the *same norm*, and measure what each does to the concept and what else it breaks.
#
# > **What the original exercise got wrong.** It "decomposed" a *random* vector ("random for
# > demo") by running it through the SAE's encoder. A random vector is no concept, and the encoder
# > answers a different question than "which features make up this direction" (section 3 says
# > which). Here the directions come from labelled texts, every number is measured on held-out
# > documents, and the three methods are compared on equal terms.
#
# The two concepts live in `saecourse/assets/concepts` as small files of sentences taken from the
# corpus, each with its provenance (the work and the line it starts on):
# * **bible**: King James Bible against Shakespeare, read at every token. Easy, a whole-document
#   label, but both are Early Modern English ("thou", "hath"), so not trivial at every token.
# * **question**: questions against statements, half from each source, read at the sentence's last
#   token with the final "?" or "." stripped: the model has read the sentence and must guess how it
#   ends. Not a document label, and much harder.
#
# The SAE is yours from Part 2 if you saved it, else the course's reference SAE (as in Parts 3-4).
#
# Cells that begin with `#| export probes` hold answers that a later part uses. The course builds
# `saecourse.probes` from the reference version of those cells (as nbdev exports cells), so Part 7
# sets its features against a concept's steering vector and probe, probes its latents and steers
# with them using exactly the code you write here. The first such cell holds the imports they need.

# %%
#| export probes
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saecourse.hooks import next_token_losses, patch_residual
from saecourse.models import greedy_continuation, residual_stream

# %%
import math

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from gradebox import checker
from saecourse import activations, concepts, corpus, interpret, models, saes
from saecourse.claims import expect
from saecourse.hooks import assert_no_hooks
from saecourse.utils import save_figure, set_threads, sized

check = checker("part5_comparing_methods")
set_threads()

# %% [markdown]
# ## 1. Two concepts and their activations
#
# Every text runs through the model on its own. Position 0 is left out: as Part 2 found, the first
# position of every sequence is the attention sink, with a residual norm near 20000 against about
# 180 elsewhere. The splits are by document: **test** sentences come from the corpus's validation
# documents (which the reference SAE never saw), **validation** sentences from a fifth of the
# training documents, **train** sentences from the rest.

# %% tags=["demo"]
MODEL = models.resolve_model_name()
model, tokenizer = models.load_model(MODEL)
LAYER = models.n_layers(model) // 2
sae, which = saes.course_or_reference(MODEL, LAYER)
print(f"Comparing with {which}")

CONCEPTS = {name: c.every(sized(1, 10)) for name, c in concepts.course_concepts().items()}
texts = list(dict.fromkeys(t.text for c in CONCEPTS.values() for t in c.texts))  # the two share their sentences
text_acts = concepts.cached_text_activations(texts, MODEL, LAYER)
data = {name: concepts.concept_data(c, text_acts, texts) for name, c in CONCEPTS.items()}
for name, c in CONCEPTS.items():
    counts = {s: int((data[name].split == i).sum()) for i, s in enumerate(concepts.SPLITS)}
    print(f"{name}: {c.description}; read at {c.reading!r}; rows per split {counts}, "
          f"positive share {data[name].labels.mean():.2f}")
    for side, label in (("positive", 1), ("negative", 0)):
        example = getattr(c, side)[0]
        print(f"   {side}: {example.text!r} ({example.work}, line {example.line}, {example.split})")

# %% [markdown]
# ## 2. A steering vector and a probe
#
# **Exercise 2.1.** The **mean-difference** vector of a concept: the mean activation of the
# positive rows minus the mean activation of the negative rows. (Each class's own mean: with
# unbalanced classes the mean over all rows is not the midpoint.) Add it and the model should move
# toward the positive class. Steering vectors of this family differ in how many examples they
# average. **ActAdd** (Turner et al. 2023, *Activation Addition: Steering Language Models Without
# Optimization*) uses a single pair of prompts: the activation difference of, say, "Love" and
# "Hate", added at one layer. **CAA** (Panickssery, née Rimsky, et al. 2024, *Steering Llama 2 via
# Contrastive Activation Addition*) averages the differences over many contrast pairs, each pair the
# same prompt ending in a positive or a negative answer. Our vector, the difference of the two
# class means over a labelled dataset, is closest to CAA (with matched pairs, the mean of the
# differences *is* the difference of the means), and it is the direction Marks & Tegmark (2023,
# *The Geometry of Truth*) call the difference of means, the direction of their *mass-mean probe*
# ("diff-in-means"). Our classes are not paired: the positive and negative sentences are different
# texts.

# %% nbgrader={"grade": false, "grade_id": "mean_difference", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def mean_difference(acts: Tensor, labels: Tensor) -> Tensor:
    """The positive rows' mean minus the negative rows' mean, each class's own mean.

    acts: [n, d_model], labels: [n] (1 positive, 0 negative). Returns [d_model]."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_mean_difference", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_mean_difference")

# %% [markdown]
# **Exercise 2.2.** A logistic-regression probe: the weights `w` and bias `b` that minimise
#
# $$\frac{1}{n}\sum_{i=1}^n \text{BCE}\big(\sigma(x_i \cdot w + b),\ y_i\big) + \frac{\lambda}{2}\lVert w \rVert^2 ,$$
#
# the mean binary cross-entropy plus an L2 penalty on `w` (not on `b`). With `λ > 0` the objective
# is strictly convex, so there is one answer, and any optimiser run to convergence finds it: work
# in float64, full batch, and stop when the gradient is tiny. `torch.optim.LBFGS` with
# `line_search_fn="strong_wolfe"` converges in a few dozen iterations;
# `F.binary_cross_entropy_with_logits` computes the first term stably.

# %% nbgrader={"grade": false, "grade_id": "fit_logistic", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def fit_logistic(x: Tensor, y: Tensor, l2: float) -> tuple[Tensor, Tensor]:
    """The minimiser (w, b) of the mean BCE of σ(x·w + b) against y plus l2/2 ‖w‖² (b not penalised),
    found in float64 to convergence.

    x: [n, d], y: [n] in {0, 1}. Returns (w [d], b []) as float32."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_fit_logistic", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_fit_logistic")

# %% [markdown]
# **Exercise 2.3.** The **AUROC** of scores against labels: the probability that a random positive
# scores higher than a random negative, a tie counting one half. Unlike accuracy it needs no
# threshold, and it is 0.5 for a probe that knows nothing whatever the class balance. Compare
# every positive with every negative (fine for a few thousand rows), or use ranks.

# %% nbgrader={"grade": false, "grade_id": "auroc", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def auroc(scores: Tensor, labels: Tensor) -> float:
    """The probability that a random positive scores higher than a random negative, a tie counting
    one half.

    scores, labels: [n], with both classes present."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_auroc", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_auroc")

# %% [markdown]
# **Exercise 2.4.** Train and evaluate a probe with three splits (`split` holds 0 for train, 1 for
# validation, 2 for test, as `concepts.SPLITS`):
# 1. **standardise** every input dimension with the *train* rows' mean and standard deviation
#    (`x.std(0)`; a dimension with standard deviation 0 is divided by 1), so that one `λ` means
#    the same for every dimension;
# 2. for each `λ` in `l2s`, fit on the train rows and compute the AUROC on the validation rows;
#    keep the `λ` with the highest validation AUROC (on a tie, the larger `λ`: the simpler probe);
# 3. report that probe's accuracy (a row is predicted positive when its score `x·w + b > 0`) and
#    AUROC on the **test** rows.
#
# The test rows are used once, at the end: choosing `λ` on them, or reporting the accuracy on the
# rows the probe was fitted on, gives a number that says how well the probe memorised, not how
# well it generalises.

# %% nbgrader={"grade": false, "grade_id": "train_probe", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def train_probe(x: Tensor, labels: Tensor, split: Tensor, l2s: list[float]) -> dict:
    """A probe fitted on the standardised train rows for each λ in l2s, the one with the highest
    validation AUROC kept (ties: the larger λ), and its accuracy and AUROC on the test rows.

    x: [n, d], labels, split: [n] (split: 0 train, 1 validation, 2 test). Returns {"w": [d], "b": []
    (in standardised coordinates), "mean": [d], "std": [d] (the train rows'; 1 where a dimension is
    constant), "l2": float, "validation_auroc": [len(l2s)], "test_accuracy": float, "test_auroc": float}."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_train_probe", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_train_probe")

# %% [markdown]
# **Exercise 2.5.** The probe lives in standardised coordinates. To use it on raw activations
# (and to compare its direction with anything else in activation space), fold the
# standardisation in: return `w_raw, b_raw` with `x · w_raw + b_raw = ((x - mean) / std) · w + b`
# for every `x`.

# %% nbgrader={"grade": false, "grade_id": "raw_probe", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def raw_probe(probe: dict) -> tuple[Tensor, Tensor]:
    """The probe with its standardisation folded in: x · w_raw + b_raw = ((x - mean) / std) · w + b.

    probe: as train_probe returns it. Returns (w_raw [d], b_raw [])."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_raw_probe", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
check("test_raw_probe")

# %% [markdown]
# Both methods for both concepts, with `λ` chosen from a grid of six values:

# %% tags=["demo"]
L2S = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
probes, steering_vectors, probe_directions = {}, {}, {}
for name, d in tqdm(data.items(), desc="probes"):
    x_train, y_train = d.part("train")
    steering_vectors[name] = mean_difference(x_train, y_train)
    probes[name] = train_probe(d.x, d.labels, d.split, L2S)
    probe_directions[name] = F.normalize(raw_probe(probes[name])[0], dim=0)
print(f"{'concept':10s} {'λ':>7s} {'val AUROC':>10s} {'test acc':>9s} {'test AUROC':>11s} {'‖steering v‖':>13s} "
      f"{'cos(steering v, probe)':>23s}")
for name, p in probes.items():
    cosine = F.normalize(steering_vectors[name], dim=0) @ probe_directions[name]
    print(f"{name:10s} {p['l2']:7.0e} {p['validation_auroc'].max():10.3f} {p['test_accuracy']:9.3f} "
          f"{p['test_auroc']:11.3f} {steering_vectors[name].norm():13.1f} {cosine:23.3f}")
cosines = {name: (F.normalize(steering_vectors[name], dim=0) @ probe_directions[name]).item() for name in data}
expect(min(p["test_auroc"] for p in probes.values()) > 0.7,
       "both probes decode their concept on held-out documents (test AUROC above 0.7)",
       bible=probes["bible"]["test_auroc"], question=probes["question"]["test_auroc"])
expect(probes["bible"]["test_auroc"] > probes["question"]["test_auroc"] + 0.05,
       "questions against statements is clearly the harder concept (test AUROC over 0.05 below bible's)",
       bible=probes["bible"]["test_auroc"], question=probes["question"]["test_auroc"])
expect(probes["bible"]["test_accuracy"] < 0.99, "the easy concept is not at 100% per token",
       bible_test_accuracy=probes["bible"]["test_accuracy"])
expect(max(cosines.values()) < 0.7, "the probe direction is far from the steering vector (cosine below 0.7)",
       **cosines)

# %% [markdown]
# Both probes decode their concept on documents they never saw, questions less well than the
# source (the checks above). Two more things to notice. The "easy" concept is not at 100% per
# token (below: where it fails). And the probe direction is far from the steering vector (a cosine
# well below 1): the probe's weights are chosen to *separate* the classes, so they also cancel directions along
# which both classes vary a lot, while the mean difference points to where the positive class
# *is*. The first is a filter, the second a pattern; section 5 shows what that means for steering.
#
# The probe's accuracy by position in the sentence, for the per-token concept:

# %% tags=["demo"]
d, p = data["bible"], probes["bible"]
test_rows = d.split == concepts.SPLITS.index("test")
w_raw, b_raw = raw_probe(p)
correct = ((d.x[test_rows] @ w_raw + b_raw > 0).float() == d.labels[test_rows]).float()
positions = d.positions[test_rows]
by_position = [(pos, correct[positions == pos].mean().item()) for pos in range(1, 25) if (positions == pos).sum() >= 10]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(*zip(*by_position), marker="o")
ax.set_xlabel("position in the sentence"), ax.set_ylabel("test accuracy"), ax.set_title("bible probe, per position")
save_figure(fig, "part5_probe_by_position")
print("accuracy at positions 1, 5, 10, 20:", {pos: round(a, 3) for pos, a in by_position if pos in (1, 5, 10, 20)})
first_position, later = by_position[0][1], [a for pos, a in by_position if pos >= 10]
later_accuracy = sum(later) / len(later) if later else math.nan  # a smoke run may have no such positions
expect(first_position < later_accuracy - 0.05,
       "the probe is less accurate at the first position of a sentence than at positions 10 and later",
       first_position=first_position, positions_10_and_later=later_accuracy)

# %% [markdown]
# The errors concentrate at the start of a sentence (the check above): at the first positions the
# model has seen one or two words, and "And" or "I will" begin sentences in both sources.

# %% [markdown]
# ## 3. Decomposing a direction into SAE features
#
# Which SAE features make up a direction `v`? The SAE writes latent `i` along its decoder
# direction `d_i` (the row `W_dec[i]`), so the natural first answer is the **cosine** of `v` with
# every decoder direction. The second answer is how much of `v` a few decoder directions can
# build: the norm of `v`'s projection onto the span of the top `k` of them, as a fraction of
# `‖v‖`. 1 means `v` is exactly a combination of those `k` directions.
#
# **Exercise 3.1.** The cosine of `direction` with every decoder direction. The decoder rows of an
# SAE you did not train may not have unit norm.

# %% nbgrader={"grade": false, "grade_id": "decoder_cosines", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def decoder_cosines(direction: Tensor, W_dec: Tensor) -> Tensor:
    """The cosine of direction with every decoder row (rows of any norm).

    direction: [d_model], W_dec: [d_sae, d_model]. Returns [d_sae]."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_decoder_cosines", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_decoder_cosines")

# %% [markdown]
# **Exercise 3.2.** For each `k` in `ks`, `‖P_k v‖ / ‖v‖`, where `P_k` projects onto the span of
# the decoder directions `W_dec[order[:k]]`. Decoder directions are not orthogonal (thousands of
# them in 576 dimensions), so the sum of squared cosines is *not* the squared projection: solve
# the least-squares problem `min_c ‖A c - v‖` with `A = W_dec[order[:k]].T` instead. Two
# directions may be (nearly) parallel; use a solver that copes with that (`torch.linalg.lstsq`).

# %% nbgrader={"grade": false, "grade_id": "span_fractions", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
def span_fractions(direction: Tensor, W_dec: Tensor, order: Tensor, ks: list[int]) -> Tensor:
    """For each k in ks, ‖P_k v‖ / ‖v‖ with P_k the projection onto the span of the decoder rows
    W_dec[order[:k]] (rows that need not be orthogonal, nor independent).

    direction: [d_model], W_dec: [d_sae, d_model], order: [>= max(ks)] latent indices. Returns [len(ks)]."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_span_fractions", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check("test_span_fractions")

# %% [markdown]
# The top features of each steering vector and probe direction, with their explanations from
# Part 3's protocol (the heaviest token ids of a latent's top windows in the validation
# documents), and the span curves next to those of random directions: with 2304 decoder
# directions in 576 dimensions, the best `k` of them span part of *any* direction.

# %% tags=["demo"]
store = activations.cached_activations(MODEL, LAYER, "val", n_tokens=sized(20_000, 2_000))
protocol = interpret.Protocol.of(store, n_top=sized(20, 5))
with torch.no_grad():
    store_codes = sae.encode(store.acts)  # [n_rows, d_sae]
    concept_codes = {name: sae.encode(d.x) for name, d in data.items()}  # [n, d_sae] each, for sections 3 and 4


def explain(latent: int) -> str:
    return corpus.token_set(tokenizer, protocol.explain(store_codes[:, latent]))


def firing_rates(name: str, latent: int) -> str:
    """How often the latent fires on the concept's positive and negative train rows."""
    train = data[name].split == concepts.SPLITS.index("train")
    fires, y = concept_codes[name][train, latent] > 0, data[name].labels[train]
    return f"fires on {fires[y == 1].float().mean():.0%} of positive, {fires[y == 0].float().mean():.0%} of negative rows"


KS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
directions = {(name, kind): v for name in data for kind, v in
              (("steering vector", steering_vectors[name]), ("probe", probe_directions[name]))}
spans = {}
for (name, kind), v in directions.items():
    cosines = decoder_cosines(v, sae.W_dec)
    order = cosines.argsort(descending=True)
    spans[f"{name} {kind}"] = span_fractions(v, sae.W_dec, order, KS)
    print(f"{name} {kind}:")
    for latent in order[:3].tolist():
        print(f"   latent {latent:5d}  cosine {cosines[latent]:.3f}  {firing_rates(name, latent)}; explanation {explain(latent)}")
random_directions = torch.randn(sized(5, 2), sae.W_dec.shape[1], generator=torch.Generator().manual_seed(0))
random_spans = torch.stack([span_fractions(r, sae.W_dec, decoder_cosines(r, sae.W_dec).argsort(descending=True), KS)
                            for r in random_directions])
random_best = torch.stack([decoder_cosines(r, sae.W_dec).max() for r in random_directions])  # [n_random]
print(f"best cosine of a random direction with a decoder direction: {random_best.mean():.3f} (mean of {len(random_best)})")

fig, ax = plt.subplots(figsize=(7, 4))
for label, s in spans.items():
    ax.plot(KS, s, marker="o", label=label)
ax.plot(KS, random_spans.mean(0), "k--", label="random directions (mean)")
ax.set_xscale("log", base=2), ax.set_xlabel("k decoder directions (by cosine)"), ax.set_ylabel("‖P_k v‖ / ‖v‖")
ax.legend(fontsize=8), ax.set_title("how much of each direction the top k SAE features span")
save_figure(fig, "part5_span")
print("span fractions at k =", KS)
for label, s in {**spans, "random": random_spans.mean(0)}.items():
    print(f"   {label:26s}", " ".join(f"{f:.2f}" for f in s.tolist()))
best_cosine = {f"{name} {kind}": decoder_cosines(v, sae.W_dec).max().item() for (name, kind), v in directions.items()}
k32, random_span = KS.index(32), random_spans.mean(0)
for name in data:
    expect(best_cosine[f"{name} steering vector"] > 1.5 * random_best.max(),
           f"the {name} steering vector has a decoder direction over 1.5 times as close as any random direction's best",
           steering_vector=best_cosine[f"{name} steering vector"], best_random=random_best.max())
    expect(spans[f"{name} steering vector"][k32] > random_span[k32] + 0.1,
           f"the top 32 decoder directions span clearly more of the {name} steering vector than of a random direction",
           steering_vector=spans[f"{name} steering vector"][k32], random=random_span[k32])
    expect(spans[f"{name} probe"][k32] < spans[f"{name} steering vector"][k32],
           f"the {name} probe direction is less in the dictionary than its steering vector (span at k = 32)",
           probe=spans[f"{name} probe"][k32], steering_vector=spans[f"{name} steering vector"][k32])

# %% [markdown]
# The steering vectors are made of the dictionary's directions far more than chance allows: each
# has a decoder direction clearly closer to it (over 1.5 times the cosine) than the best any random
# direction finds, and its top 32 decoder directions span clearly more of it than of a random
# direction. The probe directions
# are less so (the checks above): a filter tuned to cancel what both classes share is not a
# sparse sum of features.

# %% [markdown]
# **Why the encoder is the wrong tool here.** The original exercise ran its vector `v` through the
# encoder, `relu((v - b_dec) · W_enc + b_enc)`, and read off the latents that fired. That asks:
# *if the residual stream were the point `v`, which latents would fire?* But a steering vector is
# a *difference* between activations, not an activation: it lives near the origin, where the
# residual stream never is. The encoder's answer depends on `b_dec` and `b_enc` (it subtracts the
# mean activation and applies each latent's threshold), and on `v`'s norm: it reads `v - b_dec`, so
# for a short `v` what fires is mostly the answer to `-b_dec`, and as `v` grows other latents cross
# their thresholds. The encoder's columns are also tuned to
# *detect* a latent among its interfering neighbours, not to say what it writes. The questions
# we want answered (what does `v` point along, and how much of it do a few features build) are
# about the decoder's geometry. The nearest sensible encoder question is a different one: *if we
# add `v` to real activations, which latents change?*

# %% tags=["demo"]
d = data["bible"]
v = steering_vectors["bible"]
by_cosine = decoder_cosines(v, sae.W_dec).argsort(descending=True)[:5].tolist()
top_at = {}  # scale -> the 5 latents the encoder reads most strongly from scale · v
with torch.no_grad():
    for scale in (1.0, 10.0):
        fired = sae.encode(scale * v)
        top_at[scale] = set(fired.topk(5).indices.tolist())
        print(f"encode({scale:g} · v): {int((fired > 0).sum())} latents fire, top {fired.topk(5).indices.tolist()}")
    x = d.x[d.split == 0][: sized(2000, 200)]
    change = (sae.encode(x + v) - sae.encode(x)).mean(0)
print(f"top 5 latents by cosine with v:              {by_cosine}")
print(f"top 5 latents by mean change when v is added: {change.topk(5).indices.tolist()}")
expect(top_at[1.0] != top_at[10.0], "what the encoder reads from v depends on v's norm: its top 5 latents at v and at 10 · v differ",
       shared=len(top_at[1.0] & top_at[10.0]))

# %% [markdown]
# The encoder's answer changes with the length of `v` (the check above), which the answer to what
# `v` is made of should not; and the latents that change most when `v` is added to real
# activations are a third list, to be compared with the decoder's by reading them.

# %% [markdown]
# ## 4. Sparse probing
#
# If the SAE found the concept, a probe that may read only a few latents should do nearly as well
# as one that reads the whole activation. Choose the `k` latents that best separate the classes on
# the **train** rows, by a simple, stated criterion: the absolute difference of the mean
# activation on positive and on negative rows (a latent that fires *less* on positives separates
# them as well as one that fires more).
#
# **Exercise 4.1.** `top_latents(codes, labels, k)`: the `k` latents with the largest
# `|mean over positives - mean over negatives|`, largest first (a tie: the smaller index first).

# %% nbgrader={"grade": false, "grade_id": "top_latents", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_latents(codes: Tensor, labels: Tensor, k: int) -> Tensor:
    """codes: [n, d_sae], labels: [n]. Returns [k] latent indices."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_top_latents", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_top_latents")

# %% [markdown]
# **Exercise 4.2.** For each `k` in `ks`: the top `k` latents chosen on the train rows, and a probe
# on those latents only, trained and evaluated exactly as in Exercise 2.4.

# %% nbgrader={"grade": false, "grade_id": "sparse_probing", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sparse_probing(codes: Tensor, labels: Tensor, split: Tensor, ks: list[int], l2s: list[float]) -> dict[str, Tensor]:
    """codes: [n, d_sae], labels, split: [n]. Returns {"test_accuracy": [len(ks)], "test_auroc": [len(ks)]}."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_sparse_probing", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_sparse_probing")

# %% [markdown]
# The curves for both concepts, next to the probe on the full activation and to probes on `k`
# random latents (drawn among the latents that fire on at least 1% of the train rows, averaged
# over three draws). The criterion favours latents with large activations; dividing the
# difference of means by the classes' pooled standard deviation is a fair alternative to try.

# %% tags=["demo"]
SPARSE_KS = [1, 2, 4, 8, 16, 32]
METRICS = ("test_accuracy", "test_auroc")
sparse, random_latents = {}, {}
fig, axes = plt.subplots(2, len(data), figsize=(6 * len(data), 6.5))
for column, (name, d) in enumerate(tqdm(data.items(), desc="sparse probing")):
    codes = concept_codes[name]  # [n, d_sae]
    sparse[name] = sparse_probing(codes, d.labels, d.split, SPARSE_KS, L2S)
    alive = torch.nonzero((codes[d.split == 0] > 0).float().mean(0) >= 0.01).squeeze(1)
    draws = torch.Generator().manual_seed(0)
    random_probes = [[train_probe(codes[:, alive[torch.randperm(len(alive), generator=draws)[:k]]], d.labels, d.split, L2S)
                      for k in SPARSE_KS] for _ in range(3)]
    random_latents[name] = {m: torch.tensor([[p[m] for p in draw] for draw in random_probes]).mean(0) for m in METRICS}
    for row, metric in enumerate(METRICS):
        ax = axes[row, column]
        ax.plot(SPARSE_KS, sparse[name][metric], marker="o", label="top-k SAE latents")
        ax.plot(SPARSE_KS, random_latents[name][metric], marker="s", label="k random latents")
        ax.axhline(probes[name][metric], color="k", linestyle="--", label="probe on the full activation")
        ax.set_xscale("log", base=2), ax.set_xlabel("k"), ax.set_ylabel(metric.replace("_", " ").replace("auroc", "AUROC"))
        ax.set_title(name), ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "part5_sparse_probing")
for name in data:
    print(f"{name}: full probe accuracy {probes[name]['test_accuracy']:.3f}, AUROC {probes[name]['test_auroc']:.3f}")
    for j, k in enumerate(SPARSE_KS):
        print(f"   k = {k:2d}: top-k latents accuracy {sparse[name]['test_accuracy'][j]:.3f}, AUROC "
              f"{sparse[name]['test_auroc'][j]:.3f}; random latents accuracy {random_latents[name]['test_accuracy'][j]:.3f}, "
              f"AUROC {random_latents[name]['test_auroc'][j]:.3f}")
for name in data:
    top_k, chance, full = sparse[name]["test_auroc"], random_latents[name]["test_auroc"], probes[name]["test_auroc"]
    expect(bool((top_k > chance).all()), f"{name}: the top-k latents beat k random latents at every k (test AUROC)",
           smallest_margin=(top_k - chance).min())
    expect(top_k.max() < full, f"{name}: no sparse probe reaches the probe on the full activation (test AUROC)",
           best_sparse=top_k.max(), full_probe=full)

# %% [markdown]
# On both concepts the latents chosen by the criterion carry more of the concept than random ones
# at every `k`, and no sparse probe up to 32 latents reaches the full probe (the checks above): what a
# linear probe decodes from the whole activation is more than what a few SAE latents make explicit.

# %% [markdown]
# ## 5. Steering compared at equal norm
#
# Three candidate directions for each concept: the steering vector, the probe direction, and the
# decoder direction of the SAE feature with the largest cosine with the steering vector. To
# compare them fairly, each is scaled to the **same norm** of added vector (a longer vector always
# does more), and three things are measured:
# * the **concept**: greedy continuations of neutral prompts with the vector added at every
#   position, then the probe's mean probability on the *continuation's* tokens, read by the
#   **clean** model (the probe judges the text, not the intervention: reading the steered residual
#   stream would reward any vector for pushing the probe's own direction);
# * the **side effects**: the KL divergence between the clean and steered next-token
#   distributions on unrelated text (Python's documentation), where a concept direction should
#   change little;
# * **fluency**: the clean model's loss on the steered continuation.
#
# **Exercise 5.1.** `steered_kl(model, layer, vector, tokens)`: `KL(P ‖ Q)` in nats, with `P` the
# clean and `Q` the steered next-token distribution (`vector` added after block `layer` at every
# position, e.g. with `patch_residual`), averaged over every position of every sequence.

# %% nbgrader={"grade": false, "grade_id": "steered_kl", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
@torch.no_grad()
def steered_kl(model: nn.Module, layer: int, vector: Tensor, tokens: Tensor) -> float:
    """KL(P ‖ Q) in nats between the clean (P) and steered (Q) next-token distributions, vector added
    after block layer at every position; the mean over every position of every sequence.

    vector: [d_model], tokens: [batch, seq]."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_steered_kl", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_steered_kl")

# %% [markdown]
# **Exercise 5.2.** For each row of `directions`, scaled to norm `norm`: the greedy continuation of
# `prompts` (`n_new` tokens, `greedy_continuation`) with the vector added after block `layer`; the
# probe's mean probability `σ(x · probe_w + probe_b)` over the continuation's tokens, `x` being the
# clean model's residual stream after block `layer` on prompt + continuation; the clean model's
# mean loss of predicting the continuation's tokens; and `steered_kl` on `unrelated`. With `norm`
# 0 every row is the unsteered model.
#
# Generate for all directions in **one batch** (the prompts repeated once per direction, each row
# steered by its own vector): each decoding step reads every weight of the model whatever the
# batch size, so on a CPU, where that reading is the cost, three directions take little longer
# than one. A hook's `resid + v` broadcasts a `v` of shape `[rows, 1, d_model]`.

# %% nbgrader={"grade": false, "grade_id": "compare_steering", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export probes
@torch.no_grad()
def compare_steering(model: nn.Module, layer: int, directions: Tensor, norm: float, prompts: Tensor, unrelated: Tensor,
                     probe_w: Tensor, probe_b: float, n_new: int) -> dict[str, Tensor]:
    """Each direction scaled to norm and added after block layer while greedy decoding continues the
    prompts by n_new tokens, all directions in one batch. "concept": the probe's mean probability on the
    continuation's tokens, read by the clean model; "loss": the clean model's mean loss of predicting
    them; "kl": steered_kl on unrelated.

    directions: [n_dir, d_model], prompts: [batch, seq], unrelated: [batch', seq'], probe_w: [d_model].
    Returns {"concept", "loss", "kl"}: [n_dir] each, and "continuations": [n_dir, batch, n_new] token ids."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_compare_steering", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check("test_compare_steering")

# %% [markdown]
# The comparison on SmolLM2: six neutral prompts (cut to the same length), 16 new tokens, the added
# norm swept over three values. For scale, the residual stream's norm is about 180 and the steering
# vectors' own norms are printed in section 2. Next to the probe's score, each concept file names
# **markers**, strings that show the concept in plain text ("unto", "thee", ... for the Bible, "?"
# for questions): their count per continuation is a behavioural check that needs no probe.

# %% tags=["demo"]
NORMS = sized([16.0, 32.0, 64.0], [32.0])
prompt_ids = [corpus.tokenize_document(tokenizer, p) for p in corpus.prompts()[: sized(6, 2)]]
prompts = torch.tensor([ids[: min(map(len, prompt_ids))] for ids in prompt_ids])  # [6, 5]
pydoc = [doc for doc in corpus.get_split("val") if doc.source == "pydoc"]
unrelated = corpus.make_contexts(pydoc, tokenizer, ctx_len=sized(32, 16)).tokens[: sized(4, 2)]
N_NEW = sized(16, 4)


def markers_per_continuation(concept: concepts.Concept, continuations: Tensor) -> float:
    """continuations: [batch, n_new] -> the mean count of the concept's markers in each decoded text."""
    return sum(concept.marker_count(tokenizer.decode(c)) for c in continuations) / len(continuations)


comparison, candidates, unsteered = {}, {}, {}
for name in data:
    top = decoder_cosines(steering_vectors[name], sae.W_dec).argmax().item()
    candidates[name] = {"steering vector": steering_vectors[name], "probe": probe_directions[name],
                        f"SAE latent {top}": sae.W_dec[top]}
    w_raw, b_raw = raw_probe(probes[name])
    stacked = torch.stack(list(candidates[name].values()))
    run = lambda directions, norm: compare_steering(model, LAYER, directions, norm, prompts, unrelated,  # noqa: E731
                                                    w_raw, b_raw.item(), N_NEW)
    once = run(stacked[:1], 0.0)  # norm 0: every direction is the unsteered model, so run it once
    unsteered[name] = {key: value.expand(len(stacked), *value.shape[1:]) for key, value in once.items()}
    comparison[name] = {norm: run(stacked, norm) for norm in tqdm(NORMS, desc=f"steering, {name}")}
    for result in [unsteered[name], *comparison[name].values()]:
        result["markers"] = torch.tensor([markers_per_continuation(CONCEPTS[name], c) for c in result["continuations"]])
    assert_no_hooks(model)

TABLE_NORM = NORMS[-1]
print(f"At an added norm of {TABLE_NORM:g} (the unsteered model in the first row of each concept):")
print(f"{'concept':10s} {'direction':18s} {'probe score':>12s} {'markers':>8s} {'KL unrelated':>13s} {'loss':>6s}")
for name in data:
    rows = [("unsteered", unsteered[name], 0)] + [(label, comparison[name][TABLE_NORM], j)
                                                   for j, label in enumerate(candidates[name])]
    for label, result, j in rows:
        print(f"{name:10s} {label:18s} {result['concept'][j]:12.3f} {result['markers'][j]:8.2f} "
              f"{result['kl'][j]:13.3f} {result['loss'][j]:6.2f}")

fig, axes = plt.subplots(2, len(data), figsize=(6 * len(data), 7))
for column, name in enumerate(data):
    for j, label in enumerate(candidates[name]):
        points = [unsteered[name]] + [comparison[name][n] for n in NORMS]
        kl = [p["kl"][j] for p in points]
        for row, key in enumerate(("concept", "markers")):
            ax = axes[row, column]
            values = [p[key][j] for p in points]
            ax.plot(kl, values, marker="o", label=label)
            for n, x, y in zip([0.0, *NORMS], kl, values):
                ax.annotate(f"{n:g}", (x, y), fontsize=7)
            ax.set_xscale("symlog", linthresh=0.01), ax.set_xlabel("KL on unrelated text (nats)")
            ax.set_ylabel("probe score" if key == "concept" else "markers per continuation")
            ax.set_title(f"{name}: concept against side effects (labels: added norm)"), ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "part5_steering_compared")
at_norm = {name: comparison[name][TABLE_NORM] for name in data}  # rows: steering vector, probe, SAE latent
for name in data:
    expect(at_norm[name]["concept"][0] > unsteered[name]["concept"][0],
           f"{name}: the steering vector raises the probe's score of the continuation above the unsteered model's",
           steered=at_norm[name]["concept"][0], unsteered=unsteered[name]["concept"][0])
expect(at_norm["bible"]["kl"][2] < at_norm["bible"]["kl"][0],
       "bible: the top SAE feature changes unrelated text less (KL) than the steering vector at the same norm",
       sae_latent=at_norm["bible"]["kl"][2], steering_vector=at_norm["bible"]["kl"][0])
expect(at_norm["bible"]["concept"][1] < at_norm["bible"]["concept"][[0, 2]].min(),
       "bible: the probe direction moves the continuation least toward the concept of the three",
       probe=at_norm["bible"]["concept"][1], others=at_norm["bible"]["concept"][[0, 2]].min())

# %% [markdown]
# At the largest norm (the checks above) the steering vector moves both concepts' continuations
# toward the positive class as the probe reads them; on the bible concept the top SAE feature
# changes unrelated text less than the steering vector does, and the probe direction, the best
# *detector*, steers least: decodability is not control.

# %% [markdown]
# What the continuations say, for the first prompt at the largest norm:

# %% tags=["demo"]
for name in data:
    print(f"{name}, prompt {tokenizer.decode(prompts[0])!r}:")
    print(f"   unsteered:       {tokenizer.decode(unsteered[name]['continuations'][0, 0])!r}")
    for j, label in enumerate(candidates[name]):
        print(f"   {label:16s} {tokenizer.decode(comparison[name][NORMS[-1]]['continuations'][j, 0])!r}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_sae_versus_probe", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Question 6 (written, graded by hand).** From your numbers: what does the SAE's view of these
# concepts add to what the probe and the steering vector tell you, and what does it miss? Use the
# decomposition, the sparse-probing curves and the steering table.
#
# **Rubric (3 points).**
# - 1 point: what the SAE adds, with numbers from the run: named, readable parts of the steering vector (top features' cosines against a random direction's best, span of the top `k`, firing rates on each class), found without labels.
# - 1 point: what it misses, with numbers: the probe direction is barely in the dictionary, and sparse probes on a few latents stay below the full probe (the gap is what the SAE does not make explicit).
# - 1 point: steering: a comparison at equal norm (concept score or markers against KL on unrelated text) that says which direction moves the concept and which only breaks the model, noting that decodability is not control.
#
# YOUR ANSWER HERE

# %% [markdown]
# ## Summary
#
# * A steering vector (difference of class means) and a logistic probe (regularisation chosen on
#   validation documents, scored once on test documents) are two different directions for the
#   same concept: a pattern and a filter.
# * Decomposing a direction means the decoder's geometry: cosines with decoder directions and the
#   span of the top `k`, always next to a random direction's; running a direction through the
#   encoder answers what the SAE would read from a point that is not an activation.
# * Sparse probing measures how much of a concept a few SAE latents carry; the gap to the full
#   probe is what the SAE's dictionary does not make explicit.
# * Steering compared at equal norm separates what moves the model toward the concept from what
#   only breaks it.
# * Part 6 asks how the features themselves change as the SAE gets wider: feature splitting.
