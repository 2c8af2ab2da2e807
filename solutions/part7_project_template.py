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
# # Part 7 — Your own concept: a project template
#
# Parts 2-6 built every piece of an SAE investigation. This part puts them in one pipeline that
# you point at a concept of your own: one config file in, a **feature catalog** out. For a concept
# given as positive and negative texts, the pipeline
# 1. gets the **SAE** (the course's reference SAE, your Part 2 SAE, or any folder in SAELens's format);
# 2. **discovers** the latents that fire more on the positive texts, ranked by a statistic with its
#    significance (you write it, exercise 1);
# 3. **interprets** the top ones: Part 3's offline explanation and its held-out score, the firing
#    frequency on general text, and their top examples in your texts;
# 4. **validates** them causally: steering with each decoder direction (does the text move toward
#    the concept, and what else breaks?) and zero-ablating each latent where it fires (Part 4);
# 5. **compares** them with the concept's probe and steering vector (Part 5): cosines, and how much
#    of each direction the top latents span;
# 6. measures **completeness**: how much of the probe's performance the top latents recover, and
#    which positive texts no top latent explains (you write it, exercise 2).
#
# Every step is cached under a key of what it reads, so a re-run after you change one thing
# redoes only the steps that depend on it. The same pipeline runs from the command line:
#
#     python -m saecourse.project saecourse/assets/projects/question.toml --exercises part7_project_template.py
#
# > **What the original exercise got wrong.** Its Part 7 was a list of `print` statements describing
# > a project. Here the project is code that runs, on a worked example and then on your concept,
# > and it ends with the questions the seed asked, now answerable from the catalog.

# %%
import dataclasses
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor

from gradebox import checker
from saecourse import probes, project
from saecourse.claims import expect
from saecourse.utils import save_figure, set_threads, sized

check = checker("part7_project_template")
set_threads()

# %% [markdown]
# ## 1. A concept as a config file
#
# The worked example is Part 5's harder concept: at the last token of a sentence, is it a question?
# Its file, `saecourse/assets/projects/question.toml`:

# %% tags=["demo"]
EXAMPLE = project.PROJECTS_DIR / "question.toml"
print(EXAMPLE.read_text())
example = project.load_project(EXAMPLE)
example = dataclasses.replace(example, concept=example.concept.every(sized(1, 10)))  # smoke runs: every 10th text
concept = example.concept
print(f"{len(concept.positive)} positive and {len(concept.negative)} negative texts; {len(example.prompts)} prompts; "
      f"settings {example.settings}")

# %% [markdown]
# Every field is checked before anything runs or is written, and an error names the field. The
# blank template, as shipped, and a config whose `settings.top` is out of range:

# %% tags=["demo"]
with tempfile.TemporaryDirectory() as folder:
    broken = Path(folder) / "broken.toml"
    broken.write_text(EXAMPLE.read_text().replace("top = 16", "top = 0").replace('"../', f'"{EXAMPLE.parent.parent}/'))
    for path in (project.PROJECTS_DIR / "blank.toml", broken):
        try:
            project.load_project(path)
        except project.ProjectError as error:
            print(error)

# %% [markdown]
# ## 2. Discovery: which latents fire more on the positive texts?
#
# For each latent, compare its values on the positive texts with its values on the negative texts
# (one value per text, see below: the function itself calls them rows). The
# **Mann-Whitney U** statistic counts, over every (positive, negative) pair, how often the positive
# code is larger, a tie counting one half; `U / (n_pos n_neg)` is the latent's **AUROC** as a
# detector of the concept (Part 5's AUROC, with the codes as scores). Under the null hypothesis
# that positives and negatives come from one distribution, `U` has mean `n_pos n_neg / 2` and
# variance
#
# $$\sigma^2 = \frac{n_{pos} n_{neg}}{12}\left((n + 1) - \frac{\sum_t (t^3 - t)}{n (n - 1)}\right),$$
#
# where the sum runs over groups of `t` tied values. ReLU codes are continuous where they are
# nonzero, so the only ties are the zeros: one group of size `t` = the number of zero codes. With
# `z = (U - n_pos n_neg / 2) / σ`, the one-sided p-value (the latent fires *more* on positives) is
# `1 - Φ(z)` (`torch.special.ndtr(-z)`), by the normal approximation, good for the hundreds of
# rows here. A latent that is zero on every row has `σ = 0`: give it `z = 0`.
#
# Thousands of latents are tested at once, so a latent is **significant** when `p < α / d_sae`
# (Bonferroni: the chance that even one latent passes by luck stays below `α`, however the latents
# depend on one another). The pipeline ranks the latents with AUROC above 1/2 by `z`, most
# significant first, catalogues the first `settings.top` of them, significant or not, and marks
# which are.
#
# **The unit is the text, not the token.** The null distribution of `U` (its mean and `σ` above)
# assumes independent rows. With the reading `"tokens"` a text gives a row per token, and the
# tokens of one text share its topic, its speaker and its register: a latent that fires on one of
# them tends to fire on its neighbours. Counting them as independent rows shrinks `σ` relative to
# the real spread of `U`, and the p-values come out far too small. So the pipeline gives `discover`
# **one row per text**: each latent's largest code over the text's tokens (`project.per_text`;
# "does it fire anywhere in the text, and how strongly"), or its code at the last token with the
# reading `"last"`, where a text has one row anyway. `rate_pos` and `rate_neg` are then the shares
# of positive and negative texts the latent fires on. Texts of one document are not fully
# independent either (they share its topic and style): the worked example draws half of each side
# from the Bible and half from Shakespeare for that reason, and a permutation test that shuffles
# labels between whole documents would be the stricter check.
#
# **Exercise 2.1.** `discover(codes, labels)`: for every latent the firing rates on positive and
# negative rows, the AUROC, `z` and `p`. Vectorise over latents: sort each latent's negative codes
# once and `torch.searchsorted` every positive code into them (`right=False` counts the
# negatives strictly below, `right=True` those below or equal).

# %% nbgrader={"grade": false, "grade_id": "discover", "locked": false, "schema_version": 3, "solution": true, "task": false}
def discover(codes: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """codes: [n, d_sae], labels: [n] (1 positive). Returns "rate_pos", "rate_neg", "auroc", "z", "p": [d_sae] each."""
    ### BEGIN SOLUTION
    positive, negative = codes[labels == 1].double(), codes[labels == 0].double()  # [n_pos, d], [n_neg, d]
    n_pos, n_neg = len(positive), len(negative)
    n = n_pos + n_neg
    below = torch.sort(negative, dim=0).values.T.contiguous()  # [d, n_neg]: each latent's negatives, ascending
    queries = positive.T.contiguous()  # [d, n_pos]
    less = torch.searchsorted(below, queries, right=False)
    at_most = torch.searchsorted(below, queries, right=True)
    u = (less + 0.5 * (at_most - less)).sum(1)  # [d]
    zeros = (codes == 0).sum(0).double()
    sd = torch.sqrt(n_pos * n_neg / 12 * ((n + 1) - (zeros ** 3 - zeros) / (n * (n - 1))))
    z = torch.where(sd > 0, (u - n_pos * n_neg / 2) / sd, torch.zeros_like(u))
    return {"rate_pos": (positive > 0).double().mean(0).float(), "rate_neg": (negative > 0).double().mean(0).float(),
            "auroc": (u / (n_pos * n_neg)).float(), "z": z.float(), "p": torch.special.ndtr(-z).float()}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_discover", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check("test_discover")
### BEGIN HIDDEN TESTS
check("test_discover_with_a_silent_latent")
### END HIDDEN TESTS

# %% [markdown]
# Here is what counting tokens does. Read the worked example at every token, then shuffle the labels
# between *texts* (every token of a text keeps its text's shuffled label): no latent can carry such a
# label, so a sound test at the level 5% rejects at most 5% of the latents. Your `discover` on the
# same codes, once with every token as a row and once with one row per text:

# %% tags=["demo"]
ready = project.setup(example)  # the model, the layer, the SAE (the reference) and general held-out text
every_token = dataclasses.replace(example, concept=dataclasses.replace(concept, reading="tokens"))
token_rows = project.concept_rows(every_token, ready)
train = token_rows["split"] == project.TRAIN
token_codes, token_texts = ready.sae.encode(token_rows["x"][train]), token_rows["text_ids"][train]  # [n_tokens, d_sae], [n_tokens]
fires = (token_codes > 0).any(0)  # [d_sae]: the latents that fire on some train token (the others cannot pass)
LEVEL = 0.05  # a nominal level: a sound one-sided test rejects at most this share of true null hypotheses


def false_rejections(seed: int) -> tuple[float, float]:
    """The share of firing latents with p < LEVEL under labels shuffled between texts: tokens as rows, then texts."""
    order = torch.randperm(len(concept.labels), generator=torch.Generator().manual_seed(seed))
    labels = concept.labels[order].long()[token_texts]  # [n_tokens]: each token gets its text's shuffled label
    per_token = discover(token_codes, labels)["p"][fires]
    per_text = discover(*project.per_text(token_codes, token_texts, labels))["p"][fires]
    return (per_token < LEVEL).float().mean().item(), (per_text < LEVEL).float().mean().item()


shares = torch.tensor([false_rejections(seed) for seed in range(sized(5, 2))])  # [shuffles, 2]
by_token, by_text = shares.mean(0).tolist()
print(f"{len(token_codes)} train tokens of {len(token_texts.unique())} texts, {int(fires.sum())} latents firing; share "
      f"with p < {LEVEL} under shuffled labels, per shuffle: tokens as rows {[round(v, 3) for v in shares[:, 0].tolist()]}, "
      f"texts as rows {[round(v, 3) for v in shares[:, 1].tolist()]}")
expect(by_token > LEVEL and by_token > 2 * by_text, f"counting tokens as independent rows, more than {LEVEL:.0%} of the "
       "latents pass the 5% level under labels that carry nothing, twice as many as counting texts",
       tokens=by_token, texts=by_text)
expect(by_text <= LEVEL, f"counting texts, at most {LEVEL:.0%} of them do, as a sound test promises", texts=by_text)

# %% [markdown]
# ## 3. Completeness: how much of the concept do the top latents carry?
#
# Part 5's sparse probes, now on the latents discovery ranked: a probe that may read only the top
# `k` latents, against the probe on the full activation. Accuracy depends on the class balance and
# on a threshold; report the test **AUROC**, and the share of the full probe's AUROC *above
# chance* that `k` latents recover, `(AUROC_k - 1/2) / (AUROC_full - 1/2)` (1: the top `k` carry
# everything the probe finds; 0: nothing beyond chance). Then look at what is missing: the
# positive **test** rows on which none of the top latents fires at all.
#
# **Exercise 3.1.** `completeness(codes, x, labels, split, ks, l2s)`, with `probes.train_probe`
# (Part 5's, with `λ` chosen on the validation rows) for every probe.

# %% nbgrader={"grade": false, "grade_id": "completeness", "locked": false, "schema_version": 3, "solution": true, "task": false}
def completeness(codes: Tensor, x: Tensor, labels: Tensor, split: Tensor, ks: list[int], l2s: list[float]) -> dict:
    """codes: [n, k_max] the top latents' codes, best first; x: [n, d_model]; labels, split: [n].
    Returns {"probe_auroc": float, "auroc": [len(ks)], "recovered": [len(ks)], "unexplained": row indices}."""
    ### BEGIN SOLUTION
    full = probes.train_probe(x, labels, split, l2s)["test_auroc"]
    aurocs = torch.tensor([probes.train_probe(codes[:, :k], labels, split, l2s)["test_auroc"] for k in ks])
    silent = (split == 2) & (labels == 1) & ~(codes[:, : max(ks)] > 0).any(-1)
    return {"probe_auroc": full, "auroc": aurocs, "recovered": (aurocs - 0.5) / (full - 0.5),
            "unexplained": torch.nonzero(silent).squeeze(1)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_completeness", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_completeness")

# %% [markdown]
# ## 4. The worked example, end to end
#
# The pipeline with your two functions. Its first run computes every step (the activations of
# 1200 sentences, then steering and ablation for every catalogued latent: a few minutes; the cell
# prints how long); a second run reads every step from the cache and redoes none.

# %% tags=["demo"]
exercises = project.Exercises(discover, completeness)
started = time.perf_counter()
catalog = project.run(example, exercises, given=ready)
print(f"catalog in {catalog.folder}; steps computed in this run: {catalog.redone} ({time.perf_counter() - started:.0f} s)")
print((catalog.folder / "catalog.md").read_text())
plots = project.plots(catalog)  # the catalog's plots, also in its folder
steering_plot, completeness_plot = plots["steering"], plots["completeness"]
save_figure(steering_plot, "part7_steering")
save_figure(completeness_plot, "part7_completeness")

# %% tags=["demo"]
again = project.run(example, exercises, given=ready)
expect(again.redone == [], "a second run reads every step from the cache and redoes none", steps_redone=len(again.redone))

# %% nbgrader={"grade": true, "grade_id": "test_pipeline", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_pipeline")

# %% [markdown]
# ## 5. Reading the catalog
#
# Each row is one latent. `auroc` and `p_value` say how well it separates your texts (on the train
# texts, one value per text); `rate_pos` and `rate_neg` on what share of each side's texts it fires. `explanation` and `score` come
# from *general* text (Part 3): a latent can separate your concept while meaning something broader,
# and a low score says its token list describes it poorly, not that it is useless. `frequency` is
# its firing rate on general text: a latent firing on 20% of all tokens is a poor concept detector
# whatever its AUROC. `mass_share` (Part 4) is how much of its activation its explanation covers.
# `steer_concept` is the change of the probe's score of a steered continuation (at one norm for every
# direction) and `steer_kl` the damage on unrelated text: a feature *of the concept* should move
# the first more than the second. `ablation_firing` is the loss change where it fires when it is
# zeroed (Part 4). `cos_probe` and `cos_steering` place it against the supervised directions (Part 5).
#
# The completeness table says how much of the probe's AUROC the top `k` latents carry, and the
# list under it shows positive texts no catalogued latent fires on: read them, they are what the
# catalog misses.

# %% [markdown]
# The worked example's catalog, read against the seed's five questions (Question 7 below). `rate_pos`
# and `rate_neg` come from the train texts discovery ranked on; the held-out test texts say whether a
# latent's preference for questions survives selection. The baselines: `k` random directions in
# `d_model` = 576 dimensions span about `√(k / d_model)` of any vector (0.17 for `k` = 16), and a
# random direction's cosine with a fixed one is about `1 / √d_model` = 0.04.

# %% tags=["demo"]
rows, summary = catalog.rows, catalog.summary
d_sae, d_model = ready.sae.W_dec.shape
last = project.concept_rows(example, ready)  # each text's last token, as the catalog read them (from the cache)
held_out = last["split"] == project.TEST
latents = torch.tensor([r["latent"] for r in rows])
test_codes, test_labels = project.per_text(ready.sae.encode(last["x"][held_out])[:, latents], last["text_ids"][held_out],
                                           last["labels"][held_out])  # [n_test_texts, n_catalogued]
test_rate_pos, test_rate_neg = (test_codes[test_labels == 1] > 0).float().mean(0), (test_codes[test_labels == 0] > 0).float().mean(0)
print("latent | explanation | score | frequency | train rate q / s | test rate q / s | significant")
for j, r in enumerate(rows):
    print(f"{r['latent']} | {r['explanation']} | {r['score']:.2f} | {r['frequency']:.3f} | {r['rate_pos']:.2f} / {r['rate_neg']:.2f} | "
          f"{test_rate_pos[j]:.2f} / {test_rate_neg[j]:.2f} | {r['significant']}")
significant = [j for j, r in enumerate(rows) if r["significant"]]
steering, spans, complete = summary["steering"], summary["span"], summary["completeness"]
best = max(rows, key=lambda r: r["steer_concept"])
span_probe, span_steering = dict(zip(spans["ks"], spans["probe"])), dict(zip(spans["ks"], spans["steering"]))
recovered = dict(zip(complete["ks"], complete["recovered"]))
k_max = max(spans["ks"])
print(f"steering at norm {steering['norm']:.0f}: best latent {best['latent']} concept {best['steer_concept']:+.3f} "
      f"(markers {best['steer_markers']:+.2f}, KL {best['steer_kl']:.2f}); probe {steering['probe']['concept']:+.3f} "
      f"(KL {steering['probe']['kl']:.2f}); steering vector {steering['steering_vector']['concept']:+.3f} "
      f"(KL {steering['steering_vector']['kl']:.2f})")

expect(any(r["score"] > 0.4 for r in rows) and any(r["score"] < 0.1 and r["frequency"] > 0.05 for r in rows),
       "the catalog mixes latents its explanation describes well (held-out score above 0.4) with broad ones "
       "(score below 0.1, firing on more than 5% of general text)",
       best_score=max(r["score"] for r in rows),
       broad=sum(r["score"] < 0.1 and r["frequency"] > 0.05 for r in rows))
expect(1 <= summary["significant"] < 0.01 * d_sae, "some latents, but fewer than 1% of them, pass Bonferroni",
       significant=summary["significant"], d_sae=d_sae)
expect(sum(test_rate_pos[j] - test_rate_neg[j] for j in significant) > 0,
       "on held-out texts the significant latents still fire, on average, on a larger share of questions than of statements",
       test_rates_q=[round(test_rate_pos[j].item(), 2) for j in significant],
       test_rates_s=[round(test_rate_neg[j].item(), 2) for j in significant])
expect(best["steer_concept"] > steering["steering_vector"]["concept"] + 0.05,
       "at one norm, the best catalogued latent raises the probe's score of the continuation by more than the "
       "mean-difference steering vector does (by at least 0.05)",
       best_latent=best["steer_concept"], steering_vector=steering["steering_vector"]["concept"])
ablations = torch.tensor([r["ablation_firing"] for r in rows])  # NaN: the latent never fires on these first tokens
fired = ablations[~ablations.isnan()].abs()
expect(fired.median() < 0.05 and (fired > 0.1).float().mean() <= 0.5,
       "zero-ablating a catalogued latent changes the loss where it fires by a median of less than 0.05 nats, and at "
       "most half of them change it by more than 0.1 nats", median=fired.median().item(), largest=fired.max().item(),
       above_0_1=int((fired > 0.1).sum()), measured=len(fired), never_fire=int(ablations.isnan().sum()))
expect(span_steering[k_max] > span_probe[k_max] > (k_max / d_model) ** 0.5,
       f"the top {k_max} decoder directions span more of the steering vector than of the probe, and more of both "
       "than random directions would", steering_vector=span_steering[k_max], probe=span_probe[k_max],
       random=(k_max / d_model) ** 0.5)
expect(max(r["cos_steering"] for r in rows) > 5 / d_model ** 0.5,
       "some catalogued latent's decoder direction has a cosine with the steering vector five times a random "
       "direction's", largest=max(r["cos_steering"] for r in rows), random=1 / d_model ** 0.5)
expect(recovered[4] > 0.5, "the top 4 latents recover more than half of the probe's AUROC above chance",
       recovered_4=recovered[4], sparse_auroc=complete["auroc"][complete["ks"].index(4)], probe_auroc=complete["probe_auroc"])
expect(recovered[k_max] - recovered[4] < 0.1, f"going from 4 to {k_max} latents adds less than 0.1 to that share",
       recovered_4=recovered[4], recovered_max=recovered[k_max])
expect(complete["unexplained_texts"] > 0, "some positive test texts fire none of the catalogued latents",
       unexplained=complete["unexplained_texts"])

# %% [markdown]
# ## 6. Your concept
#
# Copy `saecourse/assets/projects/blank.toml` next to this notebook, fill in every `FILL IN` (the
# loader names what is missing), and run the pipeline on it, here or from the command line. Aim for
# at least 100 texts per side, split by document if you take them from a corpus (else inline texts
# are split by a hash of the text), and positives and negatives that differ in the concept and as
# little as possible in anything else (length, source, topic).

# %% tags=["demo"]
MINE = None  # the path of your project file
if MINE is not None:
    mine = project.run(project.load_project(MINE), exercises)
    print((mine.folder / "catalog.md").read_text())

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_project", "locked": false, "points": 5, "schema_version": 3, "solution": true, "task": false}
# **Question 7 (written, graded by hand).** For the worked example (or your own concept), answer
# the seed's five questions from the catalog, with numbers:
# 1. **Coherence**: do the top latents' examples and explanations describe one thing each?
# 2. **Consistency**: do they fire on held-out texts where the concept is, and not elsewhere?
# 3. **Causality**: does steering with them move generated text toward the concept more than it
#    damages unrelated text, and does ablating them hurt where they fire?
# 4. **Relation to steering vectors and probes**: which latents align with which direction, and
#    does either direction steer better than the best latent?
# 5. **Completeness**: how much of the probe's AUROC do the top latents recover, and what do the
#    unexplained texts have in common?
#
# **Rubric (5 points).**
# - 1 point: coherence, from the catalog's explanations, held-out scores, general-text frequencies and top examples, with numbers: which latents describe one thing and which are broad.
# - 1 point: consistency on held-out texts, with numbers: how many latents pass Bonferroni (texts, not tokens, as the unit), and the significant latents' firing rates on held-out questions against statements, with what share of the concept each covers.
# - 1 point: causality, with numbers: the concept shift against the KL on unrelated text at the common norm, compared with the probe and the steering vector, and the ablation effect where the latents fire.
# - 1 point: relation to the supervised directions, with numbers against the random baselines (`√(k / d_model)` for spans, `1 / √d_model` for cosines), and which of them steers best.
# - 1 point: completeness: the recovered share of the probe's AUROC for small and large `k`, whether more latents add to it, and a reading of the unexplained texts that names what they have in common.
#
# ### BEGIN SOLUTION
# *Model answer.* (The worked example with the reference SAE; every figure is printed by the cells
# of sections 2, 4 and 5 above, and each claim below is checked there.) **Coherence**: mixed. The
# catalog holds latents whose token-list explanation predicts them well on held-out general text
# (score above 0.4) next to broad ones that score below 0.1 while firing on more than 5% of all
# tokens: those separate questions from statements a little without being question features. An
# answer names, from the printed table, what the most significant latents' token lists are (a
# pronoun, a register, a question word) and whether that is the concept or something correlated
# with it. **Consistency**: discovery counts texts (one value per sentence; with tokens as rows,
# labels shuffled between texts pass the 5% level for more than 5% of the latents, section 2);
# some, but fewer than 1%, of the 2304 latents pass Bonferroni at α = 0.01, and on held-out texts
# they still fire, on average, on a larger share of questions than of statements (the printed
# table gives each one's rates: an answer says which cover much of the concept and which little).
# **Causality**: at one steering norm, the best catalogued latent raises the probe's score of the
# continuation by more than the mean-difference steering vector does (the shifts and KLs are
# printed above; the KL on unrelated text is what each push costs); zero-ablating a catalogued
# latent changes the loss where it fires by a median of less than 0.05 nats, and at most half of
# them by more than 0.1 nats (the largest change is printed above): most of them are not needed
# to predict the first tokens of these texts, and a few matter where they fire. **Relation to probes and steering vectors**: the top
# 16 decoder directions span more of the steering vector than of the probe, both more than the
# 0.17 of 16 random directions, and the largest cosine of a catalogued latent with the steering
# vector is more than five times a random direction's 0.04: the features lie along the difference
# of the class means more than along what the probe reads. **Completeness**: sparse probes on the
# top 4 latents recover more than half of the probe's AUROC above chance, and going to 16 adds
# less than 0.1 of it. The positive test texts on which no catalogued latent fires are listed in
# the catalog; an answer reads them and names what they share (for instance questions marked by
# word order alone, with no question word), which is what the catalog misses.
# ### END SOLUTION
