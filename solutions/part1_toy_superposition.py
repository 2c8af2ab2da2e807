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
# # Part 1 — Toy models of superposition
#
# A network has far more *features* it would like to represent (is this token inside a quote? is
# this Python? is this a name?) than it has neurons. Elhage et al. (2022), [*Toy Models of
# Superposition*](https://transformer-circuits.pub/2022/toy_model/index.html), showed in a model
# small enough to draw that when features are **sparse**, a network stores more features than it has
# dimensions by giving them *almost* orthogonal directions and tolerating a little interference.
# This is **superposition**, and it is why single neurons are polysemantic and why we will need
# sparse autoencoders (Parts 2–7) to read the features back out.
#
# In this part you will
# 1. generate sparse synthetic features with a given **feature probability** and **importance**;
# 2. build the paper's model, `x' = ReLU(WᵀW x + b)`, with many **instances** trained in one batch;
# 3. train it and watch 5 features arrange themselves in 2 dimensions as a **pentagon**, as two
#    **antipodal pairs**, or as **2 orthogonal features**, depending on sparsity and importance;
# 4. measure **feature dimensionality** and interference;
# 5. see why the model of the original version of this exercise never forms these shapes;
# 6. train a tiny **sparse autoencoder** that recovers the hidden features, with dead-latent resampling.
#
# **How this notebook is graded.** Fill in every cell that says `raise NotImplementedError()`.
# Cells that call `check("...")` run the visible tests on your current definitions; run them as you
# go. A test runs in a separate *judge* process that sends your functions inputs and checks what
# they return: the expected answers never enter your notebook. The grader (`make grade SUBMISSION=student`) runs those and some hidden tests. Cells tagged
# `demo` (training runs and plots) are skipped by the grader, so your functions must not rely on
# variables those cells create. Demo cells choose their sizes with `sized(full, smoke)`: the first
# number is the real run; the second, tiny one is used only with `SAECOURSE_SIZE=smoke`, a quick
# test that every cell still runs.
#
# > **What the original exercise got wrong, and this course fixes.** Its "toy model" had separate
# > encoder and decoder weights, a ReLU on the *hidden* layer, Gaussian feature values and no
# > importance; it called the probability of a feature being present `sparsity`. That model never
# > shows the geometry of the paper. We build the real model, and in section 5 you will find out why
# > the original one fails.

# %%
import einops
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from gradebox import checker
from saecourse import plots
from saecourse.claims import expect
from saecourse.directions import best_match_cosine
from saecourse.utils import save_figure, set_seed, set_threads, sized

check = checker("part1_toy_superposition")
set_threads(1)  # tiny models: with another process busy on one of two cores, two threads take 3x as long (make bench)

# %% [markdown]
# ## 1. Sparse features
#
# Each input `x` has `n_features` entries. Feature `i` is present with probability `p_i`, the
# **feature probability** (the paper's sparsity is `S = 1 - p`); when present its value is uniform in
# `[0, 1]`, otherwise it is exactly 0. Values are non-negative, like the activation of a real
# feature ("how much is this a quote?").
#
# We will train many independent copies of the model at once, the **instances**, each with its own
# feature probability. So the data has shape `[batch, inst, feat]`, and `feature_probability` has
# shape `[inst, feat]` (broadcast against the batch).
#
# **Exercise 1.1.** Implement `generate_batch`. Draw two independent uniforms per entry: one
# decides presence (`< p`), the other is the value.

# %% nbgrader={"grade": false, "grade_id": "generate_batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def generate_batch(batch_size: int, feature_probability: Tensor) -> Tensor:
    """Sparse feature vectors.

    feature_probability: [inst, feat], the probability that each feature is present.
    Returns x: [batch, inst, feat]; an entry is uniform in [0, 1] with probability p, else 0.
    """
    shape = (batch_size, *feature_probability.shape)
    ### BEGIN SOLUTION
    values = torch.rand(shape, device=feature_probability.device)
    present = torch.rand(shape, device=feature_probability.device) < feature_probability
    return values * present
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_generate_batch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_generate_batch_values")
### BEGIN HIDDEN TESTS
check("test_generate_batch_statistics")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The model
#
# The toy model compresses `n_features` into `n_hidden < n_features` dimensions with a matrix
# `W: [hidden, feat]` and reconstructs with the **same** matrix transposed, then a bias and a ReLU:
#
# $$h = W x, \qquad x' = \mathrm{ReLU}(W^\top h + b) = \mathrm{ReLU}(W^\top W x + b).$$
#
# Column `W_i` is the direction feature `i` gets in the hidden space. The output ReLU matters: it
# lets the model *filter out* negative interference (when `W_iᵀW_j < 0`, another feature's presence
# pushes feature `i`'s output below zero, and the ReLU clips it back to 0, which is correct when
# feature `i` is absent; when feature `i` is present, the push only lowers its output, as section 6
# measures). Tying the weights makes `WᵀW` the whole story: its diagonal says how well
# each feature is represented, its off-diagonal how much features interfere.
#
# All instances live in one module: `W: [inst, hidden, feat]`, `b_final: [inst, feat]`. One forward
# pass and one optimiser step train every instance at once, independently.
#
# **Exercise 2.1.** Implement `hidden` (`h = Wx`) and `forward` (`x'`). `einops.einsum` with
# named axes makes the instance dimension hard to get wrong.

# %% nbgrader={"grade": false, "grade_id": "toy_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ToyModel(nn.Module):
    """Elhage et al.'s toy model, ``n_instances`` independent copies trained in one batch."""

    def __init__(self, n_instances: int, n_features: int, n_hidden: int):
        super().__init__()
        std = (2 / (n_hidden + n_features)) ** 0.5  # Xavier-normal for each instance's [hidden, feat] matrix
        self.W = nn.Parameter(torch.randn(n_instances, n_hidden, n_features) * std)
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

    def hidden(self, x: Tensor) -> Tensor:
        """x: [batch, inst, feat] -> h: [batch, inst, hidden]."""
        ### BEGIN SOLUTION
        return einops.einsum(self.W, x, "inst hidden feat, batch inst feat -> batch inst hidden")
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: [batch, inst, feat] -> x': [batch, inst, feat]."""
        ### BEGIN SOLUTION
        h = self.hidden(x)
        out = einops.einsum(self.W, h, "inst hidden feat, batch inst hidden -> batch inst feat")
        return F.relu(out + self.b_final)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_toy_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_toy_model_forward")
### BEGIN HIDDEN TESTS
check("test_toy_model_instances_independent")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Importance-weighted loss
#
# Not all features matter equally, so each feature has an **importance** `I_i` and the loss of one
# instance is the importance-weighted squared error, averaged over the batch and the features:
#
# $$L = \frac{1}{B \, n} \sum_{b} \sum_{i} I_i \, (x_i - x'_i)^2 .$$
#
# **Exercise 3.1.** Return one loss per instance, shape `[inst]`. The training loop will
# `.sum()` them before `backward()`: a *sum* gives every instance exactly the gradient it would get
# if trained alone (a mean would shrink each instance's learning rate by the number of instances).

# %% nbgrader={"grade": false, "grade_id": "importance_weighted_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def importance_weighted_loss(out: Tensor, x: Tensor, importance: Tensor) -> Tensor:
    """out, x: [batch, inst, feat]; importance: [inst, feat]. Returns the loss of each instance: [inst]."""
    ### BEGIN SOLUTION
    error = importance * (x - out) ** 2
    return einops.reduce(error, "batch inst feat -> inst", "mean")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_importance_weighted_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_importance_weighted_loss")

# %% [markdown]
# ## 4. Training many instances at once
#
# **Exercise 4.1.** Write the training loop: Adam, a fresh batch every step (the data is infinite,
# so there are no epochs and no overfitting), the loss summed over instances. Record every
# instance's loss at every step in `history[step]`. Remember `optimizer.zero_grad()`.

# %% nbgrader={"grade": false, "grade_id": "train_toy_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_toy_model(
    model: nn.Module,
    feature_probability: Tensor,
    importance: Tensor,
    steps: int = 5000,
    batch_size: int = 1024,
    lr: float = 1e-3,
    progress: bool = True,
) -> Tensor:
    """Train every instance of ``model``; return the per-instance loss history: [steps, inst].

    feature_probability, importance: [inst, feat].
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = torch.empty(steps, feature_probability.shape[0])
    for step in tqdm(range(steps), disable=not progress, desc="toy model"):
        ### BEGIN SOLUTION
        x = generate_batch(batch_size, feature_probability)
        loss = importance_weighted_loss(model(x), x, importance)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        history[step] = loss.detach()
        ### END SOLUTION
    return history


# %% nbgrader={"grade": true, "grade_id": "test_train_toy_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_training_reaches_reference_loss")

# %% [markdown]
# Now the experiment of the paper's first figure. 5 features, 2 hidden dimensions, and three
# **regimes**, 8 instances each (different random initialisations):
#
# | regime | feature probability | importance | what the paper predicts |
# |---|---|---|---|
# | sparse | 0.05 | uniform | all 5 features in superposition: a pentagon |
# | medium | 0.3 | uniform | two antipodal pairs, one feature dropped |
# | dense  | 1.0 | decaying 0.7^i | no superposition: the 2 most important features, orthogonal |
#
# All 24 instances train in one model, in one loop. (About 20 s on one CPU core.)

# %%
REGIMES = {
    "sparse (p=0.05)": (0.05, [1.0] * 5),
    "medium (p=0.3)": (0.3, [1.0] * 5),
    "dense, decaying importance": (1.0, [0.7**i for i in range(5)]),
}


def regime_settings(instances_per_regime: int = 8) -> tuple[Tensor, Tensor]:
    """feature_probability and importance for all regimes, stacked: both [regimes * instances, 5]."""
    p = torch.tensor([[prob] * 5 for prob, _ in REGIMES.values()])
    importance = torch.tensor([imp for _, imp in REGIMES.values()])
    return p.repeat_interleave(instances_per_regime, 0), importance.repeat_interleave(instances_per_regime, 0)


# %% tags=["demo"]
set_seed(0)
feature_probability, importance = regime_settings()
model = ToyModel(n_instances=len(feature_probability), n_features=5, n_hidden=2)
history = train_toy_model(model, feature_probability, importance, steps=sized(5000, 200))
final_loss = history[-100:].mean(0)
fig = plots.loss_curves(history[:, ::8], labels=list(REGIMES), title="toy model: first instance of each regime")
save_figure(fig, "part1_loss_curves")

# %% [markdown]
# ## 5. Geometry
#
# Look before you measure: each panel below is one instance, each arrow a column `W_i`.

# %% tags=["demo"]
titles = [f"{name.split(' ')[0]} #{k}  L={final_loss[r * 8 + k]:.4f}" for r, name in enumerate(REGIMES) for k in range(8)]
fig = plots.features_in_2d(model.W, titles, cols=8)
save_figure(fig, "part1_features_in_2d")
fig = plots.gram_heatmaps(model.W[::8], list(REGIMES), cols=3)
save_figure(fig, "part1_gram")

# %% [markdown]
# ### Feature dimensionality
#
# How much of a dimension does feature `i` get? Elhage et al. define its **dimensionality**
#
# $$D_i = \frac{\lVert W_i \rVert^2}{\sum_j (\hat W_i \cdot W_j)^2},$$
#
# where `Ŵ_i = W_i / ‖W_i‖`. The numerator is how strongly feature `i` is represented; the
# denominator adds the share of that direction taken by every feature (including `i` itself). A
# feature alone in its dimension has `D = 1`; two antipodal features share one dimension,
# `D = 1/2`; five features in a pentagon share two dimensions, `D = 2/5`; an ignored feature has
# `D = 0`.
#
# **Exercise 5.1.** Implement `feature_dimensionality`. Guard the division for features with zero
# norm (their dimensionality is 0).

# %% nbgrader={"grade": false, "grade_id": "feature_dimensionality", "locked": false, "schema_version": 3, "solution": true, "task": false}
def feature_dimensionality(W: Tensor, eps: float = 1e-8) -> Tensor:
    """W: [inst, hidden, feat] -> D: [inst, feat]."""
    ### BEGIN SOLUTION
    norms = W.norm(dim=1)
    W_hat = W / (norms.unsqueeze(1) + eps)
    overlaps = einops.einsum(W_hat, W, "inst hidden i, inst hidden j -> inst i j") ** 2
    return norms**2 / (overlaps.sum(-1) + eps)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_feature_dimensionality", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_feature_dimensionality")

# %% [markdown]
# ### Angles between neighbours
#
# In two dimensions we can also read the geometry off the angles. Take the features that are
# represented (norm above a threshold), sort them by angle, and measure the gap from each to the next
# going round the circle; the gaps sum to 360°. A regular pentagon has five gaps of 72°.
#
# **Exercise 5.2.** Implement `neighbour_gaps` for one instance. `torch.atan2` gives angles.

# %% nbgrader={"grade": false, "grade_id": "neighbour_gaps", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neighbour_gaps(W_instance: Tensor, min_norm: float = 0.5) -> Tensor:
    """W_instance: [2, feat]. Returns the angles in degrees between angularly adjacent represented
    features (norm > min_norm), in increasing order of angle: [n_represented], summing to 360."""
    ### BEGIN SOLUTION
    W_kept = W_instance[:, W_instance.norm(dim=0) > min_norm]
    angles = torch.rad2deg(torch.atan2(W_kept[1], W_kept[0])).sort().values
    return torch.diff(angles, append=angles[:1] + 360)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_neighbour_gaps", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_neighbour_gaps")

# %% [markdown]
# A single instance can get stuck in a worse arrangement (at p around 0.1 the pentagon and the
# pairs are nearly tied, and seeds disagree), which is why we train several and judge the one with
# the lowest loss.

# %%
def best_instances(final_loss: Tensor, instances_per_regime: int) -> Tensor:
    """Index of the lowest-loss instance of each regime. final_loss: [regimes * instances]."""
    per_regime = final_loss.view(-1, instances_per_regime)
    return per_regime.argmin(1) + torch.arange(len(per_regime)) * instances_per_regime


# %% tags=["demo"]
for name, i in zip(REGIMES, best_instances(final_loss, 8).tolist()):
    D = feature_dimensionality(model.W.detach())[i]
    gaps = neighbour_gaps(model.W.detach()[i])
    print(f"{name:28s} D = {[round(d, 3) for d in D.tolist()]}  gaps = {[round(g, 1) for g in gaps.tolist()]}")
sparse_i, medium_i, dense_i = best_instances(final_loss, 8).tolist()
D_sparse, D_medium, D_dense = (feature_dimensionality(model.W.detach())[i] for i in (sparse_i, medium_i, dense_i))
gaps_sparse, gaps_dense = neighbour_gaps(model.W.detach()[sparse_i]), neighbour_gaps(model.W.detach()[dense_i])
expect((D_sparse - 0.4).abs().max() < 0.03 and (gaps_sparse - 72).abs().max() < 5,
       "the best sparse instance is a pentagon: every D within 0.03 of 2/5, neighbours 72° ± 5° apart",
       largest_D_error=(D_sparse - 0.4).abs().max(), largest_gap_error=(gaps_sparse - 72).abs().max())
expect(((D_medium - 0.5).abs() < 0.05).sum() == 4 and D_medium.min() < 0.05,
       "the best medium instance is two antipodal pairs: four features at D ≈ 1/2, one dropped",
       features_at_one_half=((D_medium - 0.5).abs() < 0.05).sum(), smallest_D=D_medium.min())
expect(D_dense[:2].min() > 0.95 and D_dense[2:].max() < 0.05 and (gaps_dense.min() - 90).abs() < 5,
       "the best dense instance keeps only the 2 most important features, orthogonal",
       D_of_features_0_1=D_dense[:2].min(), largest_other_D=D_dense[2:].max(), angle=gaps_dense.min())

# %% [markdown]
# In this run the best instance of each regime has the shape the paper predicts (the three checks
# printed above). The grader trains *your* model with *your* loop in these three regimes (2000 steps at `lr=3e-3`,
# batch 256, which reaches the same shapes as the demo's 5000 steps on 20 of 20 seed groups in `make robustness`),
# measures each instance's loss itself to pick the best one, and checks the same physical facts: the best
# sparse instance is a pentagon (every `D` within 0.03 of 0.40, neighbours 72° ± 5° apart), the best
# medium instance is two antipodal pairs (four features at `D ≈ 0.5`), and the best dense instance
# keeps exactly the 2 most important features, orthogonal (`D ≈ 1`, the rest 0).

# %% nbgrader={"grade": true, "grade_id": "test_geometry", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
check("test_sparse_regime_forms_pentagon")
check("test_medium_regime_forms_antipodal_pairs")
check("test_dense_regime_keeps_two_orthogonal_features")

# %% [markdown]
# ### Dimensionality across sparsity
#
# The paper's most striking plot: many features in fewer dimensions, sweeping the feature
# probability (here 40 features in 10 dimensions, 20 instances from `p = 1` to `p = 0.01`). In the
# paper, as features get sparser the model packs in more of them (the black line, dimensions per
# feature `m / ‖W‖²_F`, falls). Elhage et al. also found that individual features' dimensionalities *tend
# to stick* at the fractions of simple geometric shapes (1, 3/4, 2/3, 1/2, 2/5, ...), with
# transitions between them; they call this "sticky". It is a tendency, not a rule: look for the
# plateaus in the scatter, and for the features caught between two fractions.

# %% tags=["demo"]
set_seed(0)
n_inst, n_feat, n_hid = 20, 40, 10
probs = torch.logspace(0, -2, n_inst)
sweep = ToyModel(n_inst, n_feat, n_hid)
train_toy_model(sweep, probs[:, None].expand(n_inst, n_feat), torch.ones(n_inst, n_feat), steps=sized(4000, 200), batch_size=256)
W = sweep.W.detach()
dims_per_feature = n_hid / W.pow(2).sum((1, 2))
fig = plots.dimensionality_scatter(feature_dimensionality(W), probs, dims_per_feature)
save_figure(fig, "part1_dimensionality")
expect(dims_per_feature[-1] < 0.5 * dims_per_feature[0],
       "the sparsest instance spends less than half as many dimensions per feature as the densest",
       densest=dims_per_feature[0], sparsest=dims_per_feature[-1])
D_sweep, middle = feature_dimensionality(W), (probs > 0.25) & (probs < 0.55)
represented = D_sweep[middle] > 0.1
at_one_half = ((D_sweep[middle] - 0.5).abs() < 0.03) & represented
expect(at_one_half.sum() >= 0.8 * represented.sum(),
       "at p between 0.25 and 0.55 at least 80% of the represented features stick at D = 1/2 ± 0.03",
       at_one_half=at_one_half.sum(), represented=represented.sum())

# %% [markdown]
# Both hold in this run (the two checks above): the black line falls from about one dimension per
# feature at `p = 1` to less than half of that at `p = 0.01`, and in the middle of the sweep nearly
# every represented feature sits on the 1/2 plateau (antipodal pairs) rather than anywhere between 0 and 1.

# %% [markdown]
# ## 6. Interference
#
# Superposition is a bet that features rarely co-occur. The original exercise tested it by
# reconstructing one active feature versus several. Let's do that systematically: for every pair of
# features `(i, j)` turn both on at value 1 (and for `i = j` only feature `i`) and measure the
# squared reconstruction error `Σ_k (x_k - x'_k)²` of one instance.
#
# **Exercise 6.1.** Implement `pair_errors`. Build all `n²` inputs as one batch, feed the same
# input to every instance (the model wants `[batch, inst, feat]`), and keep the chosen instance.

# %% nbgrader={"grade": false, "grade_id": "pair_errors", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def pair_errors(model: ToyModel, instance: int) -> Tensor:
    """Squared reconstruction error when features i and j (only i on the diagonal) are 1: [feat, feat]."""
    n_inst, _, n_feat = model.W.shape
    ### BEGIN SOLUTION
    eye = torch.eye(n_feat)
    x = ((eye[:, None, :] + eye[None, :, :]) > 0).float()  # [i, j, feat]
    x = einops.repeat(x, "i j feat -> (i j) inst feat", inst=n_inst)
    errors = (x - model(x)).pow(2).sum(-1)[:, instance]
    return errors.view(n_feat, n_feat)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pair_errors", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_pair_errors")

# %% tags=["demo"]
pentagon = best_instances(final_loss, 8)[0].item()
errors = pair_errors(model, pentagon)
print("single feature errors:", [round(e, 3) for e in errors.diag().tolist()])
print(errors.round(decimals=3))

W_p, b_p = model.W.detach()[pentagon], model.b_final.detach()[pentagon]  # [2, feat], [feat]
gram = W_p.T @ W_p  # [feat, feat]: W_iᵀW_j
off_diagonal = ~torch.eye(5, dtype=torch.bool)
neighbours, far = (gram > 0) & off_diagonal, (gram < 0) & off_diagonal  # 72° apart, 144° apart
print(f"‖W_i‖² = {gram.diag().mean():.2f}, b_i = {b_p.mean():.2f}; W_iᵀW_j = {gram[neighbours].mean():.2f} "
      f"for neighbours (72°), {gram[far].mean():.2f} for non-neighbours (144°)")
x_pairs = (torch.eye(5)[:, None] + torch.eye(5)[None]).clamp(max=1)  # [i, j, feat]: features i and j at 1
with torch.no_grad():
    out_pairs = model(einops.repeat(x_pairs, "i j feat -> (i j) inst feat", inst=model.W.shape[0]))[:, pentagon]
out_pairs, present = out_pairs.view(5, 5, 5), x_pairs.bool()
for label, kind in (("neighbours", neighbours), ("non-neighbours", far)):
    print(f"a pair of {label:14s}: error {errors[kind].mean():.3f}; outputs of the two present features "
          f"{out_pairs[kind][present[kind]].mean():.2f}, largest output of an absent one {out_pairs[kind][~present[kind]].max():.2f}")
print(f"one feature alone    : error {errors.diag().mean():.3f}; output of the present feature "
      f"{out_pairs.diagonal().diagonal().mean():.2f}, outputs of its two neighbours {out_pairs.diagonal().T[neighbours].mean():.2f}")
expect(errors[far].mean() > 3 * errors[neighbours].mean(),
       "a pair of non-neighbours costs several (> 3) times more than a pair of neighbours",
       non_neighbours=errors[far].mean(), neighbours=errors[neighbours].mean())
expect(errors[neighbours].mean() > 2 * errors.diag().mean(),
       "a pair of neighbours costs more (at least twice as much) than one feature alone",
       neighbours=errors[neighbours].mean(), single=errors.diag().mean())
expect(out_pairs[far][present[far]].mean() < 0.2,
       "in a pair of non-neighbours both present features come out near 0 instead of 1",
       present_output=out_pairs[far][present[far]].mean())
expect(out_pairs[neighbours][present[neighbours]].mean() > 1.1,
       "in a pair of neighbours both present features come out too large",
       present_output=out_pairs[neighbours][present[neighbours]].mean())
expect(out_pairs[neighbours][~present[neighbours]].max() < 0.05,
       "in a pair of neighbours every absent feature is clipped to 0 by the output ReLU",
       largest_absent_output=out_pairs[neighbours][~present[neighbours]].max())

# %% [markdown]
# Work it out from `x' = ReLU(WᵀW x + b)` with the numbers printed above. Output `i` is
# `ReLU(‖W_i‖² x_i + Σ_{j≠i} (W_iᵀW_j) x_j + b_i)`: the feature's own term (`‖W_i‖² ≈ 1.29` in this
# run), the interference of every other present feature, and the bias (`b_i ≈ -0.25`). In a pentagon
# `W_iᵀW_j = ‖W‖² cos θ`: about `+0.40` for a neighbour (`cos 72° = 0.31`) and `-1.04` for a
# non-neighbour (`cos 144° = -0.81`).
#
# * **One feature alone**: output `1.29 - 0.25 ≈ 1.04`, nearly right. Its two non-neighbours get
#   `-1.04 - 0.25 < 0`, which the ReLU clips to 0: this is what the output ReLU is for, removing
#   negative interference on features that are *absent*. Its two neighbours get `0.40 - 0.25 ≈ 0.15`:
#   the bias does not quite cancel positive interference, and these two leaks are most of the
#   small single-feature error.
# * **A pair of neighbours**: each present feature gets `1.29 + 0.40 - 0.25 ≈ 1.44`, too large by
#   about 0.44 (error about `2 × 0.44² ≈ 0.38`). Each of the three absent features is a non-neighbour
#   of at least one of the two, so its input is negative and the ReLU clips it to 0.
# * **A pair of non-neighbours**: each present feature gets `1.29 - 1.04 - 0.25 ≈ 0`. The ReLU
#   cannot help: the right output is 1, and clipping only ever raises a negative output to 0. Both
#   features are lost (error about `1 + 1`), and the feature between them, a neighbour of both, gets
#   `0.40 + 0.40 - 0.25 ≈ 0.55` of positive interference on top (the largest absent output above).
#
# So a pair of **non-neighbours** costs several times more than a pair of neighbours (the checks
# above). Negative interference is free only on features that are absent; a present feature pushed
# down by a partner 144° away is simply under-reconstructed, and that push (`cos 144° = -0.81`) is
# much stronger than a neighbour's (`cos 72° = 0.31`). Superposition is cheap exactly when such
# coincidences are rare, that is, when features are sparse: at `p = 0.05`, two given features are
# both present in one input in 400.

# %% [markdown]
# ## 7. Why the original model never forms a pentagon
#
# The original version of this exercise used untied encoder and decoder matrices, a ReLU on the
# **hidden** layer and no ReLU on the output:
#
# $$h = \mathrm{ReLU}(W_{enc} x + b_{enc}), \qquad x' = W_{dec} h + b_{dec}.$$
#
# **Exercise 7.1.** Implement its forward pass, with instances, so the same training loop trains
# it: `W_enc: [inst, hidden, feat]`, `b_enc: [inst, hidden]`, `W_dec: [inst, feat, hidden]`,
# `b_dec: [inst, feat]`.

# %% nbgrader={"grade": false, "grade_id": "seed_toy_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SeedToyModel(nn.Module):
    """The original exercise's model: untied weights, ReLU on the hidden layer, linear output."""

    def __init__(self, n_instances: int, n_features: int, n_hidden: int):
        super().__init__()
        std = (2 / (n_hidden + n_features)) ** 0.5
        self.W_enc = nn.Parameter(torch.randn(n_instances, n_hidden, n_features) * std)
        self.b_enc = nn.Parameter(torch.zeros(n_instances, n_hidden))
        self.W_dec = nn.Parameter(torch.randn(n_instances, n_features, n_hidden) * std)
        self.b_dec = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, x: Tensor) -> Tensor:
        """x: [batch, inst, feat] -> x': [batch, inst, feat]."""
        ### BEGIN SOLUTION
        h = F.relu(einops.einsum(self.W_enc, x, "inst hidden feat, batch inst feat -> batch inst hidden") + self.b_enc)
        return einops.einsum(self.W_dec, h, "inst feat hidden, batch inst hidden -> batch inst feat") + self.b_dec
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_seed_toy_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_seed_toy_model_forward")
### BEGIN HIDDEN TESTS
check("test_seed_toy_model_loses_to_real_model")
### END HIDDEN TESTS

# %% tags=["demo"]
set_seed(0)
sparse_p, uniform = regime_settings()[0][:8], torch.ones(8, 5)
seed_model = SeedToyModel(8, 5, 2)
seed_history = train_toy_model(seed_model, sparse_p, uniform, steps=sized(5000, 200))
real_loss, seed_loss = final_loss[:8].min(), seed_history[-100:].mean(0).min()
print(f"final loss, real toy model (sparse regime, best of 8): {real_loss:.5f}")
print(f"final loss, original model  (sparse regime, best of 8): {seed_loss:.5f}")
fig = plots.features_in_2d(seed_model.W_enc.detach(), [f"encoder directions #{k}" for k in range(8)], cols=8)
save_figure(fig, "part1_seed_model_encoder")
seed_D = feature_dimensionality(seed_model.W_enc.detach())  # [8, 5]
expect(seed_loss > 2 * real_loss, "the original model's best loss is clearly (over 2x) worse than the real model's",
       original=seed_loss, real=real_loss)
expect(((seed_D - 0.4).abs().max(1).values > 0.1).all(),
       "no instance of the original model has pentagon encoder directions (some D is more than 0.1 from 2/5)",
       closest_instance_largest_D_error=(seed_D - 0.4).abs().max(1).values.min())

# %% [markdown] nbgrader={"grade": true, "grade_id": "answer_why_no_pentagon", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Question 7.2 (written, graded by hand).** The original model reaches a clearly worse loss in
# the sparse regime, and its encoder directions are no pentagon. Explain why, in terms of what each
# ReLU can and cannot do. (Hint: what does a ReLU on `h` do to a feature that points into a
# negative half-plane of the hidden space? And which ReLU is able to remove negative interference?)
#
# **Rubric (3 points).**
# - 1 point: the hidden ReLU zeroes negative hidden coordinates, so features cannot use directions all around the circle (they crowd where the hidden coordinates are positive and interfere positively).
# - 1 point: only a ReLU on the *output* can remove negative interference, and only on absent features (it clips their spurious negative outputs to 0); the original model's linear output passes every interference term into the error.
# - 1 point: the conclusion: without both, packing 5 features in 2 dimensions does not pay, so the model represents a few features, reaches a worse loss and forms no pentagon.
#
# ### BEGIN SOLUTION
# *Model answer.* Superposition needs two things the original model lacks. (1) **Directions
# all around the circle.** A pentagon uses directions whose hidden coordinates are negative; the
# hidden ReLU zeroes every negative coordinate, so each feature can only use the part of its
# direction that lies in the positive quadrant (shifted by `b_enc`), and features crowd into a
# quarter of the plane, where they interfere positively. (2) **Filtering interference.** In the
# real model, when another feature's direction has negative overlap with `W_i`, the output ReLU
# clips the spurious negative output of feature `i` back to 0, so negative interference on absent
# features is free (section 6); a linear output passes every interference term straight into the
# reconstruction error. With both gone, packing 5 features into 2 dimensions costs more than it
# earns: the model represents a few features well and the others poorly, and never the symmetric
# pentagon (in this run its best loss is more than twice the real model's and no instance's encoder
# is a pentagon: the two checks above). (Gaussian values of
# either sign, in the original data, make a one-sided ReLU representation worse still.)
# ### END SOLUTION

# %% [markdown]
# ## 8. A toy sparse autoencoder recovers the hidden features
#
# A real network only shows us `h`, the hidden activations, never the features. Can we get the
# features back from `h` alone? A **sparse autoencoder** (SAE) learns an overcomplete dictionary:
#
# $$z = \mathrm{ReLU}\big(W_{enc}(h - b_{dec}) + b_{enc}\big), \qquad \hat h = W_{dec} z + b_{dec},$$
#
# with loss `‖h - ĥ‖² + λ ‖z‖₁` (squared error summed over the hidden dimensions, L1 summed over
# latents, both averaged over the batch). The decoder rows are kept at unit norm, otherwise the L1
# penalty could be dodged by shrinking `z` and growing the decoder. If the SAE works, each decoder
# row (a direction in `h`-space) lines up with one column `W_i` of the toy model. Part 2 builds the
# full version on a real language model; here everything is small enough to check exactly.
#
# Our SAE also has instances, one per toy-model instance: `W_enc: [inst, d_in, latents]`,
# `W_dec: [inst, latents, d_in]`. It starts with `W_enc = W_decᵀ`.
#
# **Exercise 8.1.** Implement `forward` and `loss` (per instance, shape `[inst]`).

# %% nbgrader={"grade": false, "grade_id": "toy_sae", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ToySAE(nn.Module):
    """A sparse autoencoder with instances; decoder rows are unit vectors."""

    def __init__(self, n_instances: int, d_in: int, n_latents: int):
        super().__init__()
        W_dec = F.normalize(torch.randn(n_instances, n_latents, d_in), dim=-1)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.transpose(1, 2).clone())
        self.b_enc = nn.Parameter(torch.zeros(n_instances, n_latents))
        self.b_dec = nn.Parameter(torch.zeros(n_instances, d_in))

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """h: [batch, inst, d_in] -> (z: [batch, inst, latents], h_hat: [batch, inst, d_in])."""
        ### BEGIN SOLUTION
        z = F.relu(einops.einsum(h - self.b_dec, self.W_enc, "batch inst d, inst d lat -> batch inst lat") + self.b_enc)
        h_hat = einops.einsum(z, self.W_dec, "batch inst lat, inst lat d -> batch inst d") + self.b_dec
        return z, h_hat
        ### END SOLUTION

    def loss(self, h: Tensor, l1_coeff: float) -> Tensor:
        """Per-instance loss, [inst]: batch mean of (squared error summed over d_in + l1_coeff * L1 of z)."""
        ### BEGIN SOLUTION
        z, h_hat = self(h)
        reconstruction = (h - h_hat).pow(2).sum(-1)
        sparsity = z.abs().sum(-1)
        return (reconstruction + l1_coeff * sparsity).mean(0)
        ### END SOLUTION

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Project the decoder rows back to unit norm (call after every optimiser step)."""
        self.W_dec.data = F.normalize(self.W_dec.data, dim=-1)


# %% nbgrader={"grade": true, "grade_id": "test_toy_sae", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_toy_sae_forward")
check("test_toy_sae_loss")

# %% [markdown]
# ### Dead latents and resampling
#
# Some latents never fire: their encoder direction points where no data is, so they get no
# gradient and stay dead forever. The cure (Bricken et al. 2023) is to **resample** them: every so
# often, find the latents that did not fire since the last check, and re-initialise each one to
# point at an input the SAE currently reconstructs badly: decoder row = the normalised input
# (minus `b_dec`), encoder column = the same direction scaled to 0.2 × the mean norm of the alive
# encoder columns, encoder bias 0. Each input's reconstruction loss is its squared error summed over
# `d_in`, `‖h - ĥ‖²` (`loss` in the code below), and inputs are drawn with probability proportional
# to the *square* of that loss, `‖h - ĥ‖⁴`, following Bricken et al.'s procedure, which weights
# each input by the square of the autoencoder's loss on it: the worst-reconstructed inputs dominate.
#
# **Exercise 8.2.** Implement `resample_dead_latents` (it returns how many it resampled), then
# read the training loop, which is given.

# %% nbgrader={"grade": false, "grade_id": "resample_dead_latents", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def resample_dead_latents(sae: ToySAE, h: Tensor, dead: Tensor) -> int:
    """Re-initialise the dead latents of every instance towards badly reconstructed inputs.

    h: [batch, inst, d_in], a fresh batch; dead: [inst, latents] bool. Returns the number resampled.
    """
    _, h_hat = sae(h)
    loss = (h - h_hat).pow(2).sum(-1)  # [batch, inst]
    for inst in range(h.shape[1]):
        ### BEGIN SOLUTION
        idx = dead[inst].nonzero().squeeze(-1)
        if len(idx) == 0:
            continue
        weights = loss[:, inst] ** 2 + 1e-12
        chosen = torch.multinomial(weights, len(idx), replacement=True)
        directions = F.normalize(h[chosen, inst] - sae.b_dec[inst], dim=-1)  # [n_dead, d_in]
        alive = ~dead[inst]
        scale = sae.W_enc[inst][:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
        sae.W_dec[inst, idx] = directions
        sae.W_enc[inst][:, idx] = directions.T * 0.2 * scale
        sae.b_enc[inst, idx] = 0.0
        ### END SOLUTION
    return int(dead.sum())


# %% nbgrader={"grade": true, "grade_id": "test_resample_dead_latents", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
check("test_resample_dead_latents")


# %%
def train_toy_sae(
    sae: ToySAE,
    model: ToyModel,
    feature_probability: Tensor,
    steps: int = 10_000,
    batch_size: int = 1024,
    lr: float = 1e-3,
    l1_coeff: float = 0.3,
    resample_every: int = 2500,
    progress: bool = True,
    resampled: list[int] | None = None,
) -> Tensor:
    """Train ``sae`` on the hidden activations of ``model``; return the per-instance loss history [steps, inst].

    Latents that did not fire during a window of ``resample_every`` steps are resampled at its end
    (except after the last window); if ``resampled`` is a list, the number resampled at each window's
    end is appended to it. The optimiser is rebuilt after resampling so that stale Adam moments do
    not push the new latents around.
    """
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    history = torch.empty(steps, model.W.shape[0])
    fired = torch.zeros_like(sae.b_enc, dtype=torch.bool)
    for step in tqdm(range(steps), disable=not progress, desc="toy SAE"):
        with torch.no_grad():
            h = model.hidden(generate_batch(batch_size, feature_probability))
        loss = sae.loss(h, l1_coeff)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        sae.normalize_decoder()
        history[step] = loss.detach()
        with torch.no_grad():
            fired |= (sae(h)[0] > 0).any(0)
        if (step + 1) % resample_every == 0 and step + 1 < steps:
            with torch.no_grad():
                fresh = model.hidden(generate_batch(batch_size, feature_probability))
            n_resampled = resample_dead_latents(sae, fresh, ~fired)
            if n_resampled:
                optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
            if resampled is not None:
                resampled.append(n_resampled)
            fired.zero_()
    return history


def recovered_features(W_dec: Tensor, W_model: Tensor, threshold: float = 0.9) -> Tensor:
    """How many true features each SAE instance recovers: a feature counts if some decoder row
    has cosine similarity above ``threshold`` with it. W_dec: [inst, latents, d]; W_model: [inst, d, feat]."""
    return (best_match_cosine(W_model.transpose(1, 2), W_dec) > threshold).sum(-1)


# %% [markdown]
# We train 8 SAEs (5 latents each) on a perfect pentagon: a toy model whose 5 feature directions
# are exactly 72° apart, with feature probability 0.02 (rarer co-occurrence makes the directions easier to see).

# %%
def pentagon_model(n_instances: int) -> ToyModel:
    """A toy model whose every instance is the ideal pentagon: 5 unit features, 72° apart."""
    angles = torch.arange(5) * 2 * torch.pi / 5
    model = ToyModel(n_instances, 5, 2)
    with torch.no_grad():
        model.W.copy_(torch.stack([angles.cos(), angles.sin()]).expand(n_instances, 2, 5))
    return model


# %% tags=["demo"]
set_seed(0)
target = pentagon_model(8)
sae = ToySAE(8, d_in=2, n_latents=5)
resampled = []  # latents resampled at the end of each window, all instances together
sae_history = train_toy_sae(sae, target, torch.full((8, 5), 0.02), steps=sized(10_000, 400),
                            resample_every=sized(2500, 100), resampled=resampled)
recovered = recovered_features(sae.W_dec.detach(), target.W)
with torch.no_grad():
    codes = sae(target.hidden(generate_batch(20_000, torch.full((8, 5), 0.02))))[0]  # [batch, inst, latents]
dead_at_end = (codes == 0).all(0).sum()
print("features recovered per SAE instance (cosine > 0.9):", recovered.tolist())
print(f"latents resampled at each window's end: {resampled}; latents that never fire on 20,000 fresh inputs: {int(dead_at_end)}")
fig = plots.features_in_2d(sae.W_dec.detach().transpose(1, 2), [f"SAE #{k} decoder" for k in range(8)], cols=8)
save_figure(fig, "part1_toy_sae_decoder")
expect((recovered == 5).sum() >= 6, "at least 6 of the 8 SAEs recover all 5 feature directions (cosine > 0.9)",
       all_five=(recovered == 5).sum(), per_instance=recovered.tolist())
expect(sum(resampled) == 0 and dead_at_end == 0,
       "no latent died in this run: resampling never fired, and every latent fires on fresh inputs",
       resampled=sum(resampled), dead_at_end=dead_at_end)

# %% [markdown]
# Most SAEs find all five directions from `h` alone. In this small run no latent ever died (the
# second check above), so resampling, the guard against dead latents, had nothing to do; an
# instance that recovers fewer than 5 (if any, printed above) has latents that fire but settled
# between or on top of features, which resampling, touching only latents that never fire, cannot
# fix. Dead latents are common in wide SAEs on real activations; Part 2 counts them.

# %% nbgrader={"grade": true, "grade_id": "test_toy_sae_recovery", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
check("test_toy_sae_recovers_features")

# %% [markdown]
# ## Summary
#
# * Superposition appears when features are **sparse**: the toy model packs 5 features into 2
#   dimensions as a pentagon; its output ReLU removes the interference on absent features, while two
#   present features 144° apart cancel each other (section 6).
# * The geometry comes in recognisable shapes: feature dimensionalities *tend to stick* at fractions
#   such as 1, 1/2 and 2/5, with transitions between them (Elhage et al. call it "sticky"); which
#   shape wins depends on feature probability and importance.
# * Without the output ReLU and with a ReLU in the hidden layer (the original exercise's model),
#   superposition does not pay, and the geometry never appears.
# * A sparse autoencoder trained only on the hidden activations recovers the feature directions
#   (all five in most instances here). Resampling guards against dead latents; in this small run none
#   died. Part 2 does this on a real language model, where dead latents are a real problem.
