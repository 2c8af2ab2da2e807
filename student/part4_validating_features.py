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
# # Part 4 — Validating features
#
# Part 3 gave latents explanations and scored them on held-out text. An explanation that predicts
# when a latent fires is half of what "this latent is a feature of the model" means. The other
# half is causal: if the model *uses* the direction, pushing the residual stream along it should
# change what the model says, in the way the explanation suggests, and removing it should hurt
# exactly where it fires. In this part you will
# 1. put **monosemanticity in numbers**: how much of a latent's activation mass its explanation
#    covers, how spread its activating tokens are (entropy), how it scores on held-out text, and
#    the same for random directions as a control;
# 2. measure **consistency**: precision and recall of "fires" against "the explanation says it
#    should" on documents the explanation never saw;
# 3. **steer** with forward hooks: add `α · d_i` to the residual stream, measure the shift of the
#    next-token distribution (KL divergence, promoted tokens) as `α` grows, generate with and
#    without steering, and find where the model breaks;
# 4. **clamp** a latent *through the SAE*, keeping the SAE's error term, so that clamping a latent
#    to its own value changes nothing at all;
# 5. **ablate** a latent and compare the loss where it fires with where it does not, for zero- and
#    mean-ablation;
# 6. find **where an activation comes from**: split the residual stream into what the embedding
#    and each attention and MLP sublayer wrote, and each part's share of the latent's
#    pre-activation.
#
# > **What the original exercise got wrong.** It "validated" features by printing samples and left
# > steering as a stub ("full implementation requires hooks"). Here every claim is a number, every
# > hook is removed even when the code inside it fails, and interventions go through the SAE
# > without silently replacing the model's residual stream by the SAE's imperfect reconstruction.
#
# The SAE is yours from Part 2 if you saved it, else the course's reference SAE (as in Part 3).
#
# Cells that begin with `#| export interventions` hold answers that Part 7 uses. The course builds
# `saecourse.interventions` from the reference version of those cells (as Part 2's `#| export
# training` cells become `saecourse.training`), so Part 7's pipeline measures the mass share of its
# latents and ablates them with exactly the code you write here. The first such cell holds the
# imports they need.

# %%
#| export interventions
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from saecourse import models
from saecourse.hooks import next_token_losses, patch_residual

# %%
import matplotlib.pyplot as plt
import torch.nn.functional as F
from tqdm.auto import tqdm

from gradebox import checker
from saecourse import activations, corpus, interpret, saes
from saecourse.claims import expect
from saecourse.hooks import assert_no_hooks
from saecourse.models import attention_and_mlp, get_blocks, greedy_continuation
from saecourse.utils import save_figure, set_threads, sized

check = checker("part4_validating_features")
set_threads()

# %% [markdown]
# ## 1. The SAE, the held-out store and two latents to validate
#
# Everything is measured on the validation documents, split as in Part 3: explanations are
# written from documents with an even id and checked on documents with an odd id. We pick two
# latents to follow through the whole part: the two best explained by Part 3's protocol among
# those that fire on 0.1-5% of tokens (rarer ones have too few examples; more frequent ones are
# rarely clean), with different explanations. Every token also keeps its **domain**, the source of
# its document (Shakespeare, the Bible or Python's documentation), for section 2's context measure.

# %% tags=["demo"]
MODEL = models.resolve_model_name()
model, tokenizer = models.load_model(MODEL)
LAYER = models.n_layers(model) // 2
sae, which = saes.course_or_reference(MODEL, LAYER)
print(f"Validating latents of {which}")
store = activations.cached_activations(MODEL, LAYER, "val", n_tokens=sized(20_000, 2_000))
protocol = interpret.Protocol.of(store, n_top=sized(20, 5))
with torch.no_grad():
    codes = sae.encode(store.acts)  # [n_rows, d_sae]: 20k x 2304 floats, 180 MB
    unexplained = ((store.acts - sae.decode(codes)) ** 2).sum() / ((store.acts - store.acts.mean(0)) ** 2).sum()
print(f"the SAE leaves {unexplained:.1%} of the variance of these held-out activations unexplained")
frequency = (codes > 0).float().mean(0)
held_out_rows = store.doc_ids % 2 == 1  # the documents explanations never see


candidates = torch.nonzero((frequency > 0.001) & (frequency < 0.05)).squeeze(1)
if len(candidates) < 8:  # a barely trained SAE (the smoke run): any latent that fires
    candidates = torch.nonzero(frequency > 0).squeeze(1)
candidates = candidates[torch.randperm(len(candidates), generator=torch.Generator().manual_seed(0))[:400]]  # enough to find two
explained = {}
for latent in tqdm(candidates.tolist(), desc="explaining candidates"):
    explanation = protocol.explain(codes[:, latent])
    explained[latent] = (explanation, protocol.score(codes[:, latent], explanation)["pearson"])
ranked = sorted(explained, key=lambda latent: -explained[latent][1])
FEATURES = [ranked[0]]
FEATURES.append(next((f for f in ranked[1:] if not set(explained[f][0]) & set(explained[FEATURES[0]][0])), ranked[1]))
for f in FEATURES:
    print(f"latent {f}: fires on {frequency[f]:.2%} of tokens, explanation {corpus.token_set(tokenizer, explained[f][0])}, "
          f"held-out Pearson {explained[f][1]:.3f}")
shared_ids = set(explained[FEATURES[0]][0]) & set(explained[FEATURES[1]][0])
expect(not shared_ids, "the two latents have different explanations (no token id in common)", shared_ids=len(shared_ids))

domain_of_doc = {doc.doc_id: corpus.SOURCES.index(doc.source) for doc in corpus.get_split("val")}
domains = torch.tensor([domain_of_doc[d] for d in store.doc_ids.tolist()])  # [n_rows]: an index into corpus.SOURCES
for name, rows in (("explanation documents", ~held_out_rows), ("held-out documents", held_out_rows)):
    counts = torch.bincount(domains[rows], minlength=len(corpus.SOURCES))
    print(f"{name}: {int(rows.sum())} tokens, " + ", ".join(f"{n} {s}" for s, n in zip(corpus.SOURCES, counts.tolist())))

# %% [markdown]
# ## 2. Monosemanticity as numbers
#
# Three numbers for a latent, each computed from its activation `a_t ≥ 0` on every token `t` of the
# held-out documents:
#
# * **mass share**: the fraction of the total activation `Σ_t a_t` that falls on tokens whose id is
#   in the explanation. 1 means the explanation accounts for everything the latent does.
# * **entropy** of the activating-token distribution, in bits: with `m_v` the activation mass on
#   token id `v` and `p_v = m_v / Σ m`, `H = -Σ_v p_v log2 p_v`. A latent that fires on one token id
#   has `H = 0`; `2^H` is the number of token ids it is "spread over" (**effective tokens**).
# * the **held-out explanation score** of Part 3 (Pearson correlation of the simulation).
#
# **Exercise 2.1.** Implement the first two. A latent that never fires has mass share 0, entropy 0
# and 1 effective token (0 · log 0 counts as 0).

# %% nbgrader={"grade": false, "grade_id": "monosemanticity", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export interventions
def monosemanticity(token_ids: Tensor, acts: Tensor, explanation: dict[int, float]) -> dict[str, float]:
    """token_ids, acts: [n] (a latent's activation on each token); explanation: Part 3's, whose keys are the
    token ids it predicts. Returns {"mass_share", "entropy", "effective_tokens"} (entropy in bits); a latent
    that never fires: mass share 0, entropy 0, 1 effective token."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_monosemanticity", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_monosemanticity")

# %% [markdown]
# **Exercise 2.2.** Consistency. On held-out tokens, a latent *fires* where its activation is above
# `threshold`, and *should fire* where the token id is in its explanation. **Precision** is the
# fraction of should-fire tokens where it fires; **recall** the fraction of firing tokens that
# should fire (so: is the explanation's prediction right when it speaks, and does it cover what
# the latent does?); **F1** their harmonic mean. Each is 0 when undefined (nothing predicted,
# nothing firing, or both 0).

# %% nbgrader={"grade": false, "grade_id": "consistency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def consistency(token_ids: Tensor, acts: Tensor, explanation: dict[int, float], threshold: float = 0.0) -> dict[str, float]:
    """token_ids, acts: [n]. Returns {"precision", "recall", "f1"}."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_consistency", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_consistency")

# %% [markdown]
# **Exercise 2.3.** Context. Entropy measures how *token*-specific a latent is, and a latent can be
# clean without being token-specific: one that fires "inside a Bible passage" fires on *and*, *the*
# and *unto* there, on hundreds of token ids, and nowhere else. Its explanation is a context, not a
# token set, and consistency applies to it unchanged with each token's **domain** in place of its
# id. `domain_consistency` takes as explanation "fires on the tokens of domain `d`", with `d` the
# domain that holds most of the latent's firing tokens (the smallest id on a tie), and returns `d`,
# precision and recall of that explanation as in 2.2, and the **chance** level: `d`'s share of all
# tokens, the recall of a latent that fires at random. (Read the other way round, with the latent
# as a detector of its domain, this recall is the detector's precision: the share of the latent's
# firing that lies inside `d`.) A latent that never fires: domain -1 and every measure 0. You may
# use `consistency`.

# %% nbgrader={"grade": false, "grade_id": "domain_consistency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def domain_consistency(domains: Tensor, acts: Tensor, threshold: float = 0.0) -> dict[str, float]:
    """domains: [n] each token's domain id (0, 1, ...), acts: [n]. Returns {"domain", "precision", "recall",
    "chance"} for the explanation "fires on the tokens of the domain holding most of its firing tokens"."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_domain_consistency", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_domain_consistency")

# %% [markdown]
# The two latents were chosen by how well a token set predicts them, and Part 3's protocol explains
# every latent by a token set: latents chosen by a token-set score are **token latents by
# construction**, and a contextual latent scores badly under it whatever its quality. To find one we
# choose by the context measure instead, on the explanation documents (held-out documents only
# measure): among latents firing on at least 1% of those tokens, the ones whose firing lies at least
# 95% inside one domain (recall ≥ 0.95), and of these the one spread over the most token ids
# (highest entropy).

# %% tags=["demo"]
explaining_rows = ~held_out_rows
ids_explaining, domains_explaining = store.tokens[explaining_rows], domains[explaining_rows]
common = [latent for latent in torch.nonzero((codes[explaining_rows] > 0).float().mean(0) >= 0.01).squeeze(1).tolist()
          if latent not in FEATURES]
in_one_domain, domain_recall = {}, {}
for latent in tqdm(common, desc="domain consistency"):
    acts_explaining = codes[explaining_rows, latent]
    domain_recall[latent] = domain_consistency(domains_explaining, acts_explaining)["recall"]
    if domain_recall[latent] >= 0.95:
        in_one_domain[latent] = monosemanticity(ids_explaining, acts_explaining, {})["entropy"]
print(f"{len(common)} latents fire on >= 1% of the explanation documents' tokens, {len(in_one_domain)} of them "
      "at least 95% inside one domain")
if not in_one_domain:  # a barely trained SAE (the smoke run): the most domain-specific latent
    in_one_domain = {max(domain_recall, key=domain_recall.get): 0.0}
CONTEXTUAL = max(in_one_domain, key=in_one_domain.get)
print(f"the contextual latent: {CONTEXTUAL}, {domain_recall[CONTEXTUAL]:.1%} of its firing in one domain, "
      f"{2 ** in_one_domain[CONTEXTUAL]:.0f} effective tokens (explanation documents)")

# %% [markdown]
# The two latents next to the five next-best explained ones, the contextual latent, and random
# directions read as in Part 3 (`relu((x - x̄) · u)`), each explained and scored by the same
# protocol. Consistency is measured at two thresholds: any activation, and a fifth of the latent's
# typical activation (its mean when firing), which ignores the faint firing that Part 3's lowest
# quantiles showed. The second table measures the same readers against their domain.

# %% tags=["demo"]
N_RANDOM = 4
directions = F.normalize(torch.randn(N_RANDOM, store.d_model, generator=torch.Generator().manual_seed(1)), dim=-1)
random_values = F.relu((store.acts - store.acts.mean(0)) @ directions.T)  # [n_rows, N_RANDOM]
next_best = [f for f in ranked if f not in FEATURES + [CONTEXTUAL]][:5]
readers = {f"latent {f}": codes[:, f] for f in FEATURES + next_best}
readers[f"context {CONTEXTUAL}"] = codes[:, CONTEXTUAL]
readers.update({f"random direction {j}": random_values[:, j] for j in range(N_RANDOM)})

ids_held_out, domains_held_out = store.tokens[held_out_rows], domains[held_out_rows]
table = {}
for name, values in readers.items():
    explanation = protocol.explain(values)
    acts_held_out = values[held_out_rows]
    typical = acts_held_out[acts_held_out > 0].mean().item() if (acts_held_out > 0).any() else 0.0
    table[name] = {
        **monosemanticity(ids_held_out, acts_held_out, explanation),
        "pearson": protocol.score(values, explanation)["pearson"],
        **consistency(ids_held_out, acts_held_out, explanation),
        **{f"{k} (> typ/5)": v for k, v in consistency(ids_held_out, acts_held_out, explanation, typical / 5).items()},
        **{f"domain {k}": v for k, v in domain_consistency(domains_held_out, acts_held_out).items()},
        "explanation": corpus.token_set(tokenizer, explanation),
    }
columns = ["mass_share", "entropy", "effective_tokens", "pearson", "precision", "recall", "precision (> typ/5)", "recall (> typ/5)"]
print(f"{'':20s}" + "".join(f"{c:>20s}" for c in columns))
for name, row in table.items():
    print(f"{name:20s}" + "".join(f"{row[c]:20.3f}" for c in columns) + f"   {row['explanation'][:60]}")
print(f"\n{'':20s}{'domain':>14s}" + "".join(f"{c:>20s}" for c in ("domain precision", "domain recall", "chance")))
for name, row in table.items():
    domain = corpus.SOURCES[row["domain domain"]] if row["domain domain"] >= 0 else "-"
    print(f"{name:20s}{domain:>14s}" + "".join(f"{row[c]:20.3f}" for c in ("domain precision", "domain recall", "domain chance")))
print()

token_rows = [table[f"latent {f}"] for f in FEATURES + next_best]
random_rows = [table[f"random direction {j}"] for j in range(N_RANDOM)]
context_row = table[f"context {CONTEXTUAL}"]
median = lambda rows, key: torch.tensor([row[key] for row in rows]).median().item()  # noqa: E731
expect(min(r["pearson"] for r in token_rows) > max(r["pearson"] for r in random_rows),
       "every token latent has a higher held-out Pearson than every random direction",
       lowest_latent=min(r["pearson"] for r in token_rows), highest_random=max(r["pearson"] for r in random_rows))
expect(median(token_rows, "mass_share") > max(r["mass_share"] for r in random_rows),
       "the token latents' median mass share is above every random direction's",
       median_latent=median(token_rows, "mass_share"), highest_random=max(r["mass_share"] for r in random_rows))
expect(min(r["effective_tokens"] for r in random_rows) > 100,
       "every random direction's activation mass is spread over more than 100 effective tokens",
       fewest_random=min(r["effective_tokens"] for r in random_rows), median_latent=median(token_rows, "effective_tokens"))
expect(median(token_rows, "precision") > 0.8 and median(token_rows, "precision") > 2 * median(token_rows, "recall"),
       "token latents: median precision above 0.8 and more than twice the median recall",
       median_precision=median(token_rows, "precision"), median_recall=median(token_rows, "recall"))
raised = sum(r["recall (> typ/5)"] > r["recall"] for r in token_rows)
expect(raised >= len(token_rows) - 1, "recall is higher at a fifth of the typical activation than at 0 for all token latents but at most one",
       raised=raised, of=len(token_rows))
expect(context_row["domain recall"] >= 0.8 and context_row["domain recall"] > context_row["domain chance"] + 0.2,
       f"on held-out documents, at least 80% of latent {CONTEXTUAL}'s firing is in its domain, 20 points above chance",
       domain_recall=context_row["domain recall"], chance=context_row["domain chance"])
expect(context_row["effective_tokens"] > max(r["effective_tokens"] for r in token_rows),
       f"latent {CONTEXTUAL} is spread over more token ids than any token latent",
       effective_tokens=context_row["effective_tokens"], most_of_token_latents=max(r["effective_tokens"] for r in token_rows))
expect(context_row["pearson"] < min(r["pearson"] for r in token_rows),
       f"latent {CONTEXTUAL}'s token explanation scores lower than every token latent's",
       pearson=context_row["pearson"], lowest_token_latent=min(r["pearson"] for r in token_rows))

# %% [markdown]
# Read the table row by row. The token latents have a mass share well above the random
# directions', fewer effective tokens and a higher held-out Pearson: a random direction's
# activation mass is spread over more than a hundred token ids, and its "explanation" (the few
# heaviest ids) covers a small share of it. For the token latents precision is high (when the
# explanation's token appears, the latent fires) and recall is what separates them: a latent that
# also fires weakly on other tokens has a low recall at threshold 0 and a higher one at a fifth of
# its typical activation.
#
# The contextual latent is the other kind. By the token measures it looks poor: more effective
# tokens than any token latent and a lower held-out Pearson, because no short list of token ids
# predicts it. By the context measure, on documents its selection never saw, most of its firing
# lies inside its one domain, well above that domain's share of the tokens (chance). Whether a
# latent is "monosemantic" depends on the explanation's vocabulary: token measures find token
# latents, and a context needs a measure of its own (Part 5 goes further, with supervised
# directions for the domain).

# %% [markdown]
# ## 3. Steering with forward hooks
#
# A forward hook on block `layer` sees the block's output (the residual stream after it) and may
# return a replacement. Part 2 used `saecourse.hooks.patch_residual`; now write one yourself. The
# rule that matters: a hook left registered silently edits every later forward pass, so removal
# goes in a `finally` block and happens even when the code inside the `with` raises.
#
# **Exercise 3.1.** `steering_hook(model, layer, vector, positions)`: while the `with` block runs,
# every forward pass adds `vector` to the residual stream after block `layer` at `positions`
# (indices into the sequence; `None` for all), and nowhere else. Blocks may return a tensor or a
# tuple whose first element is the hidden states; return the same kind. Do not modify the block's
# output in place (other hooks may hold it).

# %% nbgrader={"grade": false, "grade_id": "steering_hook", "locked": false, "schema_version": 3, "solution": true, "task": false}
@contextmanager
def steering_hook(model: nn.Module, layer: int, vector: Tensor, positions: list[int] | None = None) -> Iterator[None]:
    """vector: [d_model]. Adds it to the residual stream after block ``layer`` at ``positions``."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_steering_hook", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_steering_hook")

# %% nbgrader={"grade": true, "grade_id": "test_steering_hook_removed_after_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_steering_hook_removed_after_error")

# %% [markdown]
# **Exercise 3.2.** The effect of steering along latent `feature`'s **decoder direction** (the
# direction the SAE writes when the latent fires), normalised to unit length, by each `α` in
# `alphas`, at every position. For each `α`, at the **last position** of each sequence, compare the
# next-token distributions `P` (clean) and `Q` (steered): the KL divergence `KL(P ‖ Q) = Σ P (log P -
# log Q)` in nats, averaged over the batch, and the `k` token ids whose log-probability rises most
# (the rise averaged over the batch).

# %% nbgrader={"grade": false, "grade_id": "steering_effect", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def steering_effect(model: nn.Module, sae: nn.Module, feature: int, tokens: Tensor, layer: int, alphas: list[float],
                    k: int = 5) -> dict[str, Tensor]:
    """tokens: [batch, seq]. Returns {"kl": [len(alphas)], "promoted": [len(alphas), k] token ids}."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_steering_effect", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_steering_effect")

# %% [markdown]
# How big should `α` be? The SAE writes `z_i · d_i` when latent `i` fires with value `z_i` (its
# decoder rows have unit norm after Part 2's folding), so the latent's **typical activation** (its
# mean when firing) is the natural unit: `α = 1` typical activation is what the model sees when the
# latent fires normally. We sweep multiples of it on held-out contexts of 32 tokens.

# %% tags=["demo"]
steer_contexts = corpus.make_contexts(corpus.get_split("val"), tokenizer, ctx_len=32).tokens[:sized(8, 2)]
MULTIPLES = sized([0.5, 1, 2, 4, 8, 16, 32], [1, 8])
typical = {f: codes[:, f][codes[:, f] > 0].mean().item() for f in FEATURES}
effects = {f: steering_effect(model, sae, f, steer_contexts, LAYER, [m * typical[f] for m in MULTIPLES], k=6)
           for f in tqdm(FEATURES, desc="steering")}
for f in FEATURES:
    print(f"latent {f} (typical activation {typical[f]:.2f}), explanation {corpus.token_set(tokenizer, explained[f][0])}")
    for m, kl, promoted in zip(MULTIPLES, effects[f]["kl"], effects[f]["promoted"]):
        print(f"   α = {m:4g} x typical: KL {kl:7.4f} nats; most promoted {corpus.token_strs(tokenizer, promoted)}")
norms = sae.W_dec[FEATURES].norm(dim=-1)
expect(bool(((norms - 1).abs() < 1e-3).all()), "the two latents' decoder rows have unit norm", norms=norms.tolist())
for f in FEATURES:
    kl = effects[f]["kl"]
    expect(bool((kl[1:] > kl[:-1]).all()), f"latent {f}: the KL divergence rises with every step of α",
           smallest_alpha=kl[0], largest_alpha=kl[-1])

# %% [markdown]
# For both latents the shift of the next-token distribution grows with every step of `α`.

# %% [markdown]
# Now generation: greedy, with and without steering at every position, from the course's prompts
# (`saecourse/assets/prompts.txt`, cut to a common length so that they run as one batch). Two
# numbers per continuation: the share of generated tokens in the latent's explanation (does the
# steering do what the explanation predicts?) and the **clean model's loss on the continuation**
# (fluency: how surprising the steered text is to the unsteered model). Steering "breaks" the model
# where that loss climbs well above the unsteered continuation's.

# %% tags=["demo"]
N_NEW = sized(12, 4)
PROMPTS = corpus.prompts()
prompt_ids = [tokenizer(p).input_ids for p in PROMPTS]
prompt_batch = torch.tensor([ids[: min(map(len, prompt_ids))] for ids in prompt_ids])  # [n_prompts, shortest]
SWEEP = sized([0, 1, 4, 16, 64], [0, 16])


@torch.no_grad()
def continuation_stats(prompts: Tensor, new: Tensor, explanation: dict[int, float]) -> tuple[float, float]:
    """prompts: [batch, seq], new: [batch, n_new] -> (share of new tokens in the explanation, the clean
    model's mean loss on the new tokens)."""
    loss = next_token_losses(model, torch.cat([prompts, new], dim=1))[:, prompts.shape[1] - 1:].mean().item()
    return torch.isin(new, torch.tensor(list(explanation))).float().mean().item(), loss


generations, fluency = {}, {}
for f in FEATURES:
    direction = F.normalize(sae.W_dec[f], dim=-1)
    for m in tqdm(SWEEP, desc=f"generating, latent {f}"):
        with steering_hook(model, LAYER, m * typical[f] * direction):
            generations[f, m] = greedy_continuation(model, prompt_batch, N_NEW)
    fluency[f] = torch.tensor([continuation_stats(prompt_batch, generations[f, m], explained[f][0]) for m in SWEEP])
    assert_no_hooks(model)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for f in FEATURES:
    axes[0].plot(MULTIPLES, effects[f]["kl"], marker="o", label=f"latent {f}")
    axes[1].plot(SWEEP, fluency[f][:, 0], marker="o", label=f"latent {f}")
    axes[2].plot(SWEEP, fluency[f][:, 1], marker="o", label=f"latent {f}")
axes[0].set_xscale("log"), axes[0].set_yscale("log")
axes[0].set_title("KL(clean ‖ steered), next token"), axes[0].set_xlabel("α / typical activation")
axes[1].set_title("continuation tokens in the explanation"), axes[1].set_xlabel("α / typical activation")
axes[2].set_title("clean model's loss on the continuation"), axes[2].set_xlabel("α / typical activation")
for ax in axes[1:]:
    ax.set_xscale("symlog", linthresh=1)
axes[0].legend()
fig.tight_layout()
save_figure(fig, "part4_steering_sweep")

for f in FEATURES:
    base = fluency[f][0, 1].item()
    broken = [m for m, (_, loss) in zip(SWEEP, fluency[f].tolist()) if loss > base + 1.0]
    print(f"latent {f}: unsteered loss {base:.2f} nats; first α with loss > unsteered + 1 nat: "
          f"{broken[0] if broken else 'none'} x typical")
    expect(bool(broken), f"latent {f}: steering breaks fluency (loss > unsteered + 1 nat) within the sweep",
           first_broken=broken[0] if broken else "none", loss_at_largest=fluency[f][-1, 1])

# %% [markdown]
# One steered generation in full, before and after: the first prompt, at the strongest steering
# whose continuation the clean model still finds no more than 1 nat per token more surprising, and
# at the next multiple, where it does.

# %% tags=["demo"]
for f in FEATURES:
    losses = fluency[f][:, 1]
    fine = [i for i in range(1, len(SWEEP)) if losses[i] <= losses[0] + 1.0]
    pick = fine[-1] if fine else 1
    prompt = tokenizer.decode(prompt_batch[0])
    print(f"latent {f}, α = {SWEEP[pick]} x typical (clean model's loss {losses[pick]:.2f} against {losses[0]:.2f}):")
    print(f"   before: {prompt}|{tokenizer.decode(generations[f, 0][0])!r}")
    print(f"   after:  {prompt}|{tokenizer.decode(generations[f, SWEEP[pick]][0])!r}")
    if pick + 1 < len(SWEEP):
        print(f"   at {SWEEP[pick + 1]} x typical (loss {losses[pick + 1]:.2f}): "
              f"{prompt}|{tokenizer.decode(generations[f, SWEEP[pick + 1]][0])!r}")

# %% [markdown]
# ## 4. Clamping through the SAE
#
# Steering adds a vector. Clamping asks a sharper question: what if the latent had *this* value?
# Replacing the residual stream `x` by the SAE's reconstruction with the latent changed would also
# replace everything the SAE fails to reconstruct (the share of the variance printed in section 1),
# so the effect would mix the latent with the SAE's error. Keep the error term instead:
#
# $$x' = \text{decode}(z') + (x - \text{decode}(z)), \qquad z = \text{encode}(x),\ z' = z \text{ except } z'_i = v .$$
#
# With `v` equal to the latent's own value, `z' = z` and `x' = x`: the model's output must not
# change at all. (Note `x - decode(z)` uses the *original* codes.)
#
# **Exercise 4.1.** `clamp_latent(model, layer, sae, feature, value, positions)`, a context manager
# like `steering_hook`; `value=None` means the latent's own value. You may use `patch_residual`.

# %% nbgrader={"grade": false, "grade_id": "clamp_latent", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export interventions
@contextmanager
def clamp_latent(model: nn.Module, layer: int, sae: nn.Module, feature: int, value: float | None,
                 positions: list[int] | None = None) -> Iterator[None]:
    """Clamp latent ``feature`` to ``value`` (None: its own value) in the residual stream after block ``layer``
    ([batch, seq, d_model]) at ``positions`` (indices into the sequence; None: every position), through
    ``sae`` and keeping its error term. The other positions are untouched."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_clamp_latent", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_clamp_latent")

# %% tags=["demo"]
f = FEATURES[0]
top_rows = codes[:, f].topk(sized(8, 2)).indices
contexts = activations.context_tokens(store, top_rows, tokenizer)  # [8, 128]: where latent f fires most
with torch.no_grad():
    clean_logits = model(input_ids=contexts, use_cache=False).logits
    with clamp_latent(model, LAYER, sae, f, None):
        same = model(input_ids=contexts, use_cache=False).logits
    with patch_residual(model, LAYER, lambda x: sae(x)[0]):
        reconstructed = model(input_ids=contexts, use_cache=False).logits
own_value, without_error = (same - clean_logits).abs().max().item(), (reconstructed - clean_logits).abs().max().item()
print(f"clamped to its own value: max |Δ logit| = {own_value:.2e} (float rounding)")
print(f"the SAE's reconstruction without the error term: max |Δ logit| = {without_error:.2f}")
expect(own_value < 1e-3, "clamping the latent to its own value leaves the logits unchanged up to float rounding", max_change=own_value)
expect(without_error > 1000 * own_value and without_error > 1.0,
       "the reconstruction without the error term moves the logits by more than a logit, and over 1000x as much",
       max_change=without_error)

# %% [markdown]
# Clamping to its own value is a no-op up to float rounding; dropping the error term is not.

# %% [markdown]
# ## 5. Ablation
#
# Set the latent to 0 (**zero-ablation**) everywhere after the first few positions, keep the error
# term, and measure how the next-token loss changes. If the model uses the latent, the loss should
# rise where it fires and barely move where it does not. **Mean-ablation** sets it to its mean
# activation over the data instead: for a sparse latent the mean is small but not 0, so
# mean-ablation also moves the residual stream at the many positions where the latent was 0 (by
# `mean · d_i`), and moves it a little less where the latent fired (by `(z - mean) · d_i` instead
# of `z · d_i`).
#
# **Exercise 5.1.** For every position `t ≥ skip_first`, the change of the loss of predicting token
# `t + 1` (ablated minus clean) when latent `feature` is clamped to `value` at every position
# `≥ skip_first`; return its mean over the positions where the latent fires (`z > 0` in the clean
# run at `t`) and over those where it does not (NaN for an empty group), and the two counts.

# %% nbgrader={"grade": false, "grade_id": "ablation_effect", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export interventions
@torch.no_grad()
def ablation_effect(model: nn.Module, sae: nn.Module, feature: int, tokens: Tensor, layer: int, value: float = 0.0,
                    skip_first: int = 4) -> dict[str, float]:
    """tokens: [batch, seq]. Returns {"firing", "not_firing"}: the mean loss change (ablated minus clean) over
    the predicting positions ``t >= skip_first`` where the latent fires in the clean run and where it does
    not (NaN for an empty group), and {"n_firing", "n_not_firing"}: how many positions each mean is over."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_ablation_effect", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_ablation_effect")

# %% [markdown]
# On contexts where the latent fires (its top rows' contexts) and on random held-out contexts:

# %% tags=["demo"]
random_rows = torch.nonzero(held_out_rows).squeeze(1)[torch.randperm(int(held_out_rows.sum()), generator=torch.Generator().manual_seed(0))[:sized(4, 1)]]
for f in FEATURES:
    rows = torch.cat([codes[:, f].topk(sized(8, 1)).indices, random_rows])
    contexts = activations.context_tokens(store, rows, tokenizer)[:, :sized(128, 40)]  # smoke: the start of each
    mean_value = codes[:, f].mean().item()
    zero, mean = (ablation_effect(model, sae, f, contexts, LAYER, v) for v in (0.0, mean_value))
    print(f"latent {f}: Δ loss (nats) where it fires ({zero['n_firing']} positions) / where it does not ({zero['n_not_firing']})")
    print(f"   zero-ablation:          {zero['firing']:+.4f} / {zero['not_firing']:+.5f}")
    print(f"   mean-ablation ({mean_value:.3f}): {mean['firing']:+.4f} / {mean['not_firing']:+.5f}")
    expect(zero["firing"] > 0 and zero["firing"] > zero["not_firing"],
           f"latent {f}: zero-ablation raises the loss where the latent fires, and more than where it does not",
           firing=zero["firing"], not_firing=zero["not_firing"])

# %% [markdown]
# For both latents zero-ablation costs loss where the latent fires, more than elsewhere: the model
# uses what the latent writes.

# %% [markdown]
# ## 6. Where the activation comes from
#
# The residual stream after block `L` is a sum: the embedding (block 0's input) plus, for every
# block up to `L`, what its attention and its MLP added (both architectures here compute `h = h +
# attn(norm(h))`, then `h = h + mlp(norm(h))`). The latent's pre-activation is linear in `x`:
# `(x - b_dec) · W_enc[:, i] + b_enc[i]`. So it splits exactly into one contribution per component,
# `c · W_enc[:, i]`, plus a constant, `b_enc[i] - b_dec · W_enc[:, i]`. (Only the *pre*-activation:
# the ReLU is not linear.) `saecourse.models.attention_and_mlp(block)` returns a block's two
# sublayers; a forward **pre**-hook (`register_forward_pre_hook(hook, with_kwargs=True)`) sees a
# module's inputs, which for block 0 is the embedding (as the first positional argument or the
# keyword `hidden_states`).
#
# **Exercise 6.1.** `residual_components(model, tokens, layer)`: the names and the stacked outputs
# of the components, in order `["embed", "attn 0", "mlp 0", "attn 1", ..., "mlp {layer}"]`, so
# that their sum is the residual stream after block `layer`. Remove every hook you register.

# %% nbgrader={"grade": false, "grade_id": "residual_components", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def residual_components(model: nn.Module, tokens: Tensor, layer: int) -> tuple[list[str], Tensor]:
    """tokens: [batch, seq]. Returns (names, components [n_components, batch, seq, d_model])."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_residual_components", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
check("test_residual_components")


# %% [markdown]
# **Exercise 6.2.** Each component's contribution to latent `feature`'s pre-activation at one
# token, and the constant, so that `contributions.sum() + constant` is the pre-activation.

# %% nbgrader={"grade": false, "grade_id": "feature_attribution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def feature_attribution(components: Tensor, sae: nn.Module, feature: int) -> tuple[Tensor, float]:
    """components: [n_components, d_model] at one token. Returns (contributions [n_components], constant)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_feature_attribution", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_feature_attribution")

# %% [markdown]
# For each latent, over its top examples: the mean contribution of every component, and the
# check that the parts add up to the pre-activation the SAE computes.

# %% tags=["demo"]
fig, axes = plt.subplots(1, len(FEATURES), figsize=(6 * len(FEATURES), 3.5))
attributions = {}  # latent -> (its top rows, their contexts, component names, mean direct contributions)
for ax, f in zip(axes, FEATURES):
    rows = codes[:, f].topk(sized(8, 2)).indices
    contexts = activations.context_tokens(store, rows, tokenizer)
    names, components = residual_components(model, contexts, LAYER)  # [n_comp, batch, seq, d]
    at = components[:, torch.arange(len(rows)), store.context_pos[rows]]  # [n_comp, batch, d]: each top token
    parts = [feature_attribution(at[:, b], sae, f) for b in range(len(rows))]
    contributions = torch.stack([c for c, _ in parts]).mean(0)
    attributions[f] = rows, contexts, names, contributions
    with torch.no_grad():
        pre = (store.acts[rows] - sae.b_dec) @ sae.W_enc[:, f] + sae.b_enc[f]
    gap = max(abs(c.sum().item() + k - p.item()) for (c, k), p in zip(parts, pre))
    order = contributions.abs().argsort(descending=True)[:10]
    ax.barh([names[i] for i in order.flip(0)], contributions[order.flip(0)])
    ax.set_title(f"latent {f}: mean contribution to the pre-activation"), ax.set_xlabel("contribution")
    print(f"latent {f}: top components {[names[i] for i in order[:5]]}; sum of parts vs the SAE's pre-activation: "
          f"max gap {gap:.1e} (the store was collected in batches: float rounding)")
    expect(gap < 1e-2 * pre.abs().max().item(), f"latent {f}: the parts add up to the SAE's pre-activation (float rounding)",
           max_gap=gap, largest_pre_activation=pre.abs().max().item())
    assert_no_hooks(model)
fig.tight_layout()
save_figure(fig, "part4_attribution")

# %% [markdown]
# ### Direct contributions are not total effects
#
# The split is exact, but it splits the **direct** path only: what each component wrote straight
# into the residual stream the SAE reads. An early component also changes what every later
# attention and MLP reads, and what they write in response is credited to *them*: if attention 3
# moves information to the token where MLP 12 turns it into the latent's input, the split credits
# MLP 12, not attention 3. A component's **total effect** answers the causal question instead: set
# its output to zero, run the later blocks again, and measure how much the latent's pre-activation
# falls. With the later blocks frozen, zeroing a component would lower the pre-activation by
# exactly its direct contribution `c · W_enc[:, i]`, so the two numbers differ by what flows
# through the later blocks alone; only the last MLP, with nothing between it and the SAE, has the
# two equal. (A zeroed output is one the model never produces; mean-ablation is gentler, and its
# direct share is `(c - c̄) · W_enc[:, i]`.) For the first latent, on the same top examples:

# %% tags=["demo"]
@contextmanager
def zeroed(sublayer: nn.Module) -> Iterator[None]:
    """While the ``with`` block runs, ``sublayer`` (an attention or an MLP) adds nothing to the residual stream."""
    def zero(module: nn.Module, inputs: tuple, output: Tensor | tuple) -> Tensor | tuple:
        if isinstance(output, tuple):
            return (torch.zeros_like(output[0]), *output[1:])
        return torch.zeros_like(output)

    handle = sublayer.register_forward_hook(zero)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def pre_activation(contexts: Tensor, rows: Tensor, feature: int) -> Tensor:
    """contexts: [batch, seq], row ``rows[b]`` at position ``store.context_pos[rows[b]]`` of context ``b``
    -> the latent's pre-activation at each row: [batch]."""
    resid = models.residual_stream(model, contexts, LAYER)[torch.arange(len(rows)), store.context_pos[rows]]
    return (resid - sae.b_dec) @ sae.W_enc[:, feature] + sae.b_enc[feature]


f = FEATURES[0]
rows, contexts, names, direct = attributions[f]
clean_pre = pre_activation(contexts, rows, f)
total = torch.zeros(len(names))  # [n_components]; the embedding (index 0) is not zeroed
for i, name in enumerate(tqdm(names[1:], desc=f"zeroing each component, latent {f}"), start=1):
    kind, block = name.split()
    with zeroed(attention_and_mlp(get_blocks(model)[int(block)])[kind == "mlp"]):
        total[i] = (clean_pre - pre_activation(contexts, rows, f)).mean()
assert_no_hooks(model)

print(f"latent {f}, mean pre-activation {clean_pre.mean():.2f} on its top examples")
print(f"{'component':>10s}{'direct':>10s}{'total':>10s}")
for i in (direct.abs() + total.abs())[1:].argsort(descending=True)[:10].add(1).tolist():
    print(f"{names[i]:>10s}{direct[i]:10.2f}{total[i]:10.2f}")

fig, ax = plt.subplots(figsize=(4.5, 4))
ax.scatter(direct[1:], total[1:])
for i in range(1, len(names)):
    if max(abs(direct[i]), abs(total[i])) > 0.1 * clean_pre.mean():
        ax.annotate(names[i], (direct[i], total[i]), fontsize=7)
low, high = min(direct.min(), total.min()).item(), max(direct.max(), total.max()).item()
ax.plot([low, high], [low, high], color="grey", lw=0.8)
ax.set_xlabel("direct contribution"), ax.set_ylabel("total effect (zeroed, later blocks re-run)")
ax.set_title(f"latent {f}: each attention and MLP")
fig.tight_layout()
save_figure(fig, "part4_total_effects")

last, earlier = names.index(f"mlp {LAYER}"), [i for i, name in enumerate(names) if name != "embed" and not name.endswith(f" {LAYER}")]
indirect = (total - direct)[earlier].abs()
widest = earlier[int(indirect.argmax())]
expect(abs(total[last] - direct[last]) < 1e-3 * (1 + clean_pre.abs().mean().item()),
       f"mlp {LAYER}, the last component, has a total effect equal to its direct contribution",
       direct=direct[last], total=total[last])
expect(indirect.max() > 0.25 * clean_pre.mean().abs(),
       "for some earlier component, total effect and direct contribution differ by more than a quarter of the pre-activation",
       component=names[widest], direct=direct[widest], total=total[widest], pre_activation=clean_pre.mean())
expect(abs(total[1:].sum() - direct[1:].sum()) > 0.25 * direct[1:].sum().abs(),
       "the total effects do not add up to what the direct contributions add up to",
       sum_of_totals=total[1:].sum(), sum_of_direct=direct[1:].sum())

# %% [markdown]
# The last MLP's two numbers agree, as they must. Earlier components are another story: at least
# one earlier component's total effect is far from its direct contribution (the largest gap is
# printed above), and the total effects do not add up the way the direct contributions do, since
# one path through the network is counted in the total effect of every component on it. The bar
# chart above answers "which component wrote the direction the SAE reads?"; "which component does
# the latent depend on?" needs the total effect, or a decomposition into paths through the
# network (path patching: Wang et al. 2022, *Interpretability in the Wild*).

# %% [markdown]
# ## Summary
#
# * Monosemanticity is measurable: the share of activation mass the explanation covers, the
#   entropy of the activating tokens and the held-out score put SAE latents and random directions
#   on one scale.
# * Consistency separates two failures: an explanation that fires where the latent does not (low
#   precision) and a latent that does more than its explanation says (low recall).
# * Token measures find token latents: a latent chosen by a token-set score is a token latent by
#   construction. A contextual latent needs a context explanation, here its domain, measured with
#   the same precision and recall against chance.
# * Steering along a decoder direction, in units of the latent's typical activation, shows whether
#   the model *uses* the direction the way the explanation says, and where pushing harder only
#   breaks the model.
# * Interventions through the SAE keep its error term; clamping a latent to its own value is then
#   an exact no-op, the test every intervention should pass.
# * Ablation compares positions where a latent fires with positions where it does not; zero- and
#   mean-ablation differ by `mean · d_i` everywhere.
# * The residual stream is a sum of what each sublayer wrote, so a latent's pre-activation splits
#   exactly into their direct contributions; a component's total effect, through the later blocks,
#   is another number, measured by ablating it and running the model again.
# * Part 5 compares SAE latents with the directions other methods find for a concept: steering
#   vectors and linear probes.
