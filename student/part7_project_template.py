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
from pathlib import Path

import torch
from torch import Tensor

from gradebox import checker
from saecourse import probes, project
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
# For each latent, compare its codes on the positive rows with its codes on the negative rows. The
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
# Thousands of latents are tested at once, so the pipeline keeps those with `p < α / d_sae`
# (Bonferroni) and AUROC above 1/2, ranked by AUROC.
#
# **Exercise 2.1.** `discover(codes, labels)`: for every latent the firing rates on positive and
# negative rows, the AUROC, `z` and `p`. Vectorise over latents: sort each latent's negative codes
# once and `torch.searchsorted` every positive code into them (`right=False` counts the
# negatives strictly below, `right=True` those below or equal).

# %% nbgrader={"grade": false, "grade_id": "discover", "locked": false, "schema_version": 3, "solution": true, "task": false}
def discover(codes: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """codes: [n, d_sae], labels: [n] (1 positive). Returns "rate_pos", "rate_neg", "auroc", "z", "p": [d_sae] each."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_discover", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
check("test_discover")


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
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test_completeness", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_completeness")

# %% [markdown]
# ## 4. The worked example, end to end
#
# The pipeline with your two functions. The first run takes about two minutes (the activations of
# 1200 sentences, then steering and ablation for every catalogued latent); a second run reads every
# step from the cache and redoes none.

# %% tags=["demo"]
exercises = project.Exercises(discover, completeness)
catalog = project.run(example, exercises)
print(f"catalog in {catalog.folder}; steps computed in this run: {catalog.redone}")
print((catalog.folder / "catalog.md").read_text())
plots = project.plots(catalog)  # the catalog's plots, also in its folder
steering_plot, completeness_plot = plots["steering"], plots["completeness"]
save_figure(steering_plot, "part7_steering")
save_figure(completeness_plot, "part7_completeness")

# %% tags=["demo"]
again = project.run(example, exercises)
print(f"a second run computed {again.redone or 'no step'}: every step came from the cache")

# %% nbgrader={"grade": true, "grade_id": "test_pipeline", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_pipeline")

# %% [markdown]
# ## 5. Reading the catalog
#
# Each row is one latent. `auroc` and `p_value` say how well it separates your texts (on the train
# rows); `rate_pos` and `rate_neg` how often it fires on each side. `explanation` and `score` come
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
# YOUR ANSWER HERE
