"""Graded tests for Part 1, toy models of superposition.

Each test compares the submission (``sub``, running in its own confined process) with the
reference (``ref``, here in the judge) on seeded inputs, or checks a physical fact (loss reached,
geometry, recovered features) measured here on the parameters the submission trained. Failure
messages name the most likely mistake. Costly reference runs come from the answer key (``@answer``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from grader import tolerances as tol
from grader.answers import answer
from grader.checks import box_module, close, diagnose, loaded, number, paired_modules, randomised, same_shapes, seed, state, tensor
from grader.framework import graded


# --------------------------------------------------------------------------------------------------
# 1. Data
# --------------------------------------------------------------------------------------------------

@graded(points=1)
def test_generate_batch_values(sub, ref):
    p = torch.tensor([[0.0, 0.05, 0.5, 1.0], [1.0, 0.5, 0.05, 0.0]])
    torch.manual_seed(0)
    x = tensor(sub.generate_batch(20_000, p), "generate_batch")
    assert x.shape == (20_000, 2, 4), f"expected shape [batch, inst, feat] = (20000, 2, 4), got {tuple(x.shape)}"
    assert x.min() >= 0 and x.max() <= 1, (
        f"values must lie in [0, 1] (got min {x.min():.2f}, max {x.max():.2f}): feature values are uniform "
        "in [0, 1] (torch.rand), not Gaussian (torch.randn) as in the original exercise")
    assert (x[:, p == 0] == 0).all(), "a feature with probability 0 must always be 0"
    # torch.rand draws multiples of 2^-24 in [0, 1): an exact 0 comes up about once in 17 million values
    assert (x[:, p == 1] > 0).float().mean() > tol.ALWAYS_PRESENT, (
        "a feature with probability 1 must always be present: feature_probability is the chance of being "
        "present, not of being zero (did you use `rand > p`?)")
    rate = (x[:, p == 0.05] > 0).float().mean()
    assert abs(rate - 0.05) < tol.PRESENCE_RATE_TOL, (
        f"a feature with probability 0.05 was present {rate:.1%} of the time")


@graded(points=1, visible=False)
def test_generate_batch_statistics(sub, ref):
    p = torch.tensor([[0.02, 0.1, 0.3], [0.5, 0.7, 0.9]])
    torch.manual_seed(1)
    x = tensor(sub.generate_batch(tol.STAT_SAMPLES, p), "generate_batch")
    n = tol.STAT_SAMPLES
    present = (x > 0).float()
    rate = present.mean(0)
    stderr = (p * (1 - p) / n).sqrt()
    worst = ((rate - p).abs() / stderr).max()
    assert worst < tol.SIGMAS, f"presence rates {rate.tolist()} differ from feature_probability {p.tolist()}"
    values = x[x > 0]
    mean_err = (values.mean() - 0.5).abs() / (1 / 12 / len(values)) ** 0.5
    assert mean_err < tol.SIGMAS, (
        f"present values should be uniform in [0, 1] (mean 0.5), got mean {values.mean():.3f}: did you reuse "
        "the same random number for presence and value?")
    var_err = (values.var() - 1 / 12).abs() / ((1 / 80 - 1 / 144) / len(values)) ** 0.5
    assert var_err < tol.SIGMAS, f"present values should have variance 1/12, got {values.var():.4f}"
    joint = (present[:, 1, 0] * present[:, 1, 2]).mean()
    expected = p[1, 0] * p[1, 2]
    joint_err = (joint - expected).abs() / (expected * (1 - expected) / n) ** 0.5
    assert joint_err < tol.SIGMAS, "features should be present independently of each other"


# --------------------------------------------------------------------------------------------------
# 2. Model
# --------------------------------------------------------------------------------------------------

def _paired_toy_models(sub, ref, n_inst=3, n_feat=5, n_hidden=2):
    """A student model and a reference model with identical random parameters (nonzero bias)."""
    student = sub.ToyModel(n_inst, n_feat, n_hidden)
    params = state(student, "ToyModel", {"W", "b_final"})
    assert params["W"].shape == (n_inst, n_hidden, n_feat), "W must have shape [inst, hidden, feat]"
    torch.manual_seed(0)
    reference = ref.ToyModel(n_inst, n_feat, n_hidden)
    with torch.no_grad():
        reference.b_final.copy_(0.1 * torch.randn(n_inst, n_feat))
    student.load_state_dict(reference.state_dict())
    return student, reference


@graded(points=2)
def test_toy_model_forward(sub, ref):
    student, reference = _paired_toy_models(sub, ref)
    torch.manual_seed(1)
    x = torch.rand(64, 3, 5)
    W, b = reference.W.detach(), reference.b_final.detach()
    h_expected = reference.hidden(x).detach()
    h = tensor(student.hidden(x), "ToyModel.hidden")
    assert close(h, h_expected), diagnose(h, h_expected, "ToyModel.hidden", {
        "it applies a ReLU, but h = Wx is linear in the real toy model": F.relu(h_expected)})
    out = tensor(student(x), "ToyModel.forward")
    wt_w_x = torch.einsum("ihf,bih->bif", W, h_expected)
    expected = reference(x).detach()
    assert close(out, expected), diagnose(out, expected, "ToyModel.forward", {
        "you forgot the ReLU on the output: x' = ReLU(WᵀWx + b)": wt_w_x + b,
        "you forgot the bias b_final": F.relu(wt_w_x),
        "the ReLU belongs on the output only, not on the hidden layer (that is the original exercise's model)":
            F.relu(torch.einsum("ihf,bih->bif", W, F.relu(h_expected)) + b),
    })


@graded(points=1, visible=False)
def test_toy_model_instances_independent(sub, ref):
    student, _ = _paired_toy_models(sub, ref, n_inst=4)
    torch.manual_seed(2)
    x = torch.rand(16, 4, 5)
    before = tensor(student(x), "ToyModel.forward")
    params = state(student, "ToyModel", {"W"})
    params["W"][2] += 1.0
    student.load_state_dict(params)
    after = tensor(student(x), "ToyModel.forward")
    others = [0, 1, 3]
    assert torch.allclose(before[:, others], after[:, others]), (
        "changing instance 2's weights changed other instances' outputs: the instance axis must not be "
        "summed or mixed in your einsums")
    assert not torch.allclose(before[:, 2], after[:, 2]), "instance 2's output should depend on its own weights"


# --------------------------------------------------------------------------------------------------
# 3. Loss
# --------------------------------------------------------------------------------------------------

@graded(points=2)
def test_importance_weighted_loss(sub, ref):
    torch.manual_seed(3)
    out, x = torch.rand(32, 3, 5), torch.rand(32, 3, 5)
    importance = torch.rand(3, 5)
    expected = ref.importance_weighted_loss(out, x, importance)
    actual = tensor(sub.importance_weighted_loss(out, x, importance), "importance_weighted_loss")
    error = (x - out) ** 2
    assert close(actual, expected), diagnose(actual, expected, "importance_weighted_loss", {
        "the importance weights are missing": error.mean((0, 2)),
        "average over features, don't sum them": (importance * error).sum(2).mean(0),
        "average over the batch, don't sum it": (importance * error).sum(0).mean(-1),
    }) + " (expected one loss per instance: mean over batch and features of importance * (x - x')²)"


# --------------------------------------------------------------------------------------------------
# 4. Training
# --------------------------------------------------------------------------------------------------

def _final_loss(history: torch.Tensor) -> torch.Tensor:
    return history[-100:].mean(0)


def measured_loss(ref, model: torch.nn.Module, p: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Each instance's importance-weighted loss on a fresh, seeded batch, measured here: [inst]."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(1234)
        x = ref.generate_batch(tol.EVAL_SAMPLES, p)
        return ref.importance_weighted_loss(model(x), x, importance)


# 400 steps at batch 256 (the loop's default lr): from the same initialisation, the measured loss
# spreads 0.22% across the batches' random streams (5 measured; 0.20% at 1000 steps), far inside
# TRAIN_LOSS_RTOL, and a loop that never zeroes its gradients ends well above it (the fixture).
TRAINING = dict(p=torch.tensor([[0.05] * 5] * 8 + [[0.3] * 5] * 8), importance=torch.ones(16, 5), steps=400,
                batch_size=256)


def _initial_toy_model(ref) -> torch.nn.Module:
    torch.manual_seed(0)
    return ref.ToyModel(16, 5, 2)


@answer
def reference_training_loss(ref) -> float:
    """The reference loop's model after TRAINING["steps"] steps, its loss measured like the student's."""
    model = _initial_toy_model(ref)
    torch.manual_seed(0)
    p, importance, steps, batch_size = TRAINING.values()
    ref.train_toy_model(model, p, importance, steps=steps, batch_size=batch_size, progress=False)
    return measured_loss(ref, model, p, importance).mean().item()


@graded(points=3, timeout=120, measures=True)
def test_training_reaches_reference_loss(sub, ref):
    p, importance, steps, batch_size = TRAINING.values()
    model = sub.ToyModel(16, 5, 2)
    model.load_state_dict(_initial_toy_model(ref).state_dict())
    history = tensor(sub.train_toy_model(model, p, importance, steps=steps, batch_size=batch_size, progress=False),
                     "train_toy_model")
    assert history.shape == (steps, 16), f"history must have shape [steps, inst] = ({steps}, 16), got {tuple(history.shape)}"
    trained = loaded(ref.ToyModel(16, 5, 2), state(model, "ToyModel"), "ToyModel")
    yours, reference = measured_loss(ref, trained, p, importance).mean().item(), reference_training_loss()
    assert yours <= reference * (1 + tol.TRAIN_LOSS_RTOL), (
        f"after {steps} steps your loop leaves the model at a mean loss of {yours:.5f}, the reference at "
        f"{reference:.5f}: check optimizer.zero_grad(), that each step uses a fresh batch and the "
        "importance-weighted loss")
    logged = _final_loss(history).mean().item()
    assert abs(logged - yours) <= tol.HISTORY_RTOL * yours, (
        f"your loss history ends at {logged:.5f}, but the trained model's loss is {yours:.5f}: record the "
        "loss of each instance at each step (history[step] = loss.detach()), nothing else")


# The graded runs train shorter than the notebook's demo (5000 steps at lr 1e-3, batch 1024): at lr
# 1e-2 and batch 256, 800 steps reach the same three shapes on 100 of 100 seed groups (5 seeds of 20
# groups; tests/test_part1_robustness.py), and 500 steps on 100 of 100 too. 2000 steps at lr 3e-3
# missed the pentagon on 1 of 40 groups.
REGIME_TRAINING = dict(steps=800, lr=1e-2, batch_size=256)
# The toy SAE: 800 steps at lr 1e-2, batch 256, resampling every 200, recover the pentagon on 60 of
# 60 seed groups (3 seeds of 20; 600 steps: 60 of 60; 800 steps at lr 5e-3: 19 of 20).
TOY_SAE_TRAINING = dict(steps=800, lr=1e-2, resample_every=200, batch_size=256)


@functools.lru_cache(maxsize=1)
def _trained_regimes(sub, ref) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's model trained by the student's loop in the three regimes: W and the index of
    each regime's lowest-loss instance (loss measured here). Cached, so the three geometry tests
    train once."""
    p, importance = ref.regime_settings(8)
    seed(sub, 0)
    model = sub.ToyModel(len(p), 5, 2)
    tensor(sub.train_toy_model(model, p, importance, progress=False, **REGIME_TRAINING), "train_toy_model")
    trained = loaded(ref.ToyModel(len(p), 5, 2), state(model, "ToyModel"), "ToyModel")
    return trained.W.detach(), ref.best_instances(measured_loss(ref, trained, p, importance), 8)


def _describe(ref, W_instance: torch.Tensor) -> str:
    D = ref.feature_dimensionality(W_instance[None])[0]
    gaps = ref.neighbour_gaps(W_instance)
    return f"dimensionalities {[round(d, 3) for d in D.tolist()]}, neighbour gaps {[round(g, 1) for g in gaps.tolist()]}°"


def judge_pentagon(ref, W_instance: torch.Tensor) -> str | None:
    """None if ``W_instance`` ([2, 5]) is a regular pentagon within tolerance, else what is wrong."""
    D = ref.feature_dimensionality(W_instance[None])[0]
    gaps = ref.neighbour_gaps(W_instance)
    ok = (D - tol.PENTAGON_D).abs().max() <= tol.PENTAGON_D_TOL and len(gaps) == 5 and (
        (gaps - tol.PENTAGON_GAP).abs().max() <= tol.PENTAGON_GAP_TOL)
    return None if ok else f"expected a pentagon (all D = 0.40, gaps 72°); got {_describe(ref, W_instance)}"


def judge_antipodal_pairs(ref, W_instance: torch.Tensor) -> str | None:
    D = ref.feature_dimensionality(W_instance[None])[0].sort(descending=True).values
    ok = (D[:4] - tol.PAIRS_D).abs().max() <= tol.PAIRS_D_TOL and D[4] <= tol.DROPPED_D_MAX
    return None if ok else f"expected two antipodal pairs (four D = 0.5, one 0); got {_describe(ref, W_instance)}"


def judge_two_orthogonal(ref, W_instance: torch.Tensor) -> str | None:
    D = ref.feature_dimensionality(W_instance[None])[0]
    angle = torch.rad2deg(torch.arccos(F.cosine_similarity(W_instance[:, 0], W_instance[:, 1], dim=0).clamp(-1, 1)))
    ok = ((D[:2] - tol.DENSE_D).abs().max() <= tol.DENSE_D_TOL and D[2:].max() <= tol.DROPPED_D_MAX
          and (angle - 90).abs() <= tol.ORTHOGONAL_TOL)
    return None if ok else (
        "expected the two most important features orthogonal (D = 1) and the rest dropped; got "
        f"{_describe(ref, W_instance)}, angle between features 0 and 1 {angle:.1f}°")


JUDGES = (judge_pentagon, judge_antipodal_pairs, judge_two_orthogonal)  # in ref.REGIMES order


@graded(points=2, timeout=180, measures=True)
def test_sparse_regime_forms_pentagon(sub, ref):
    W, best = _trained_regimes(sub, ref)
    problem = judge_pentagon(ref, W[best[0]])
    assert problem is None, f"sparse regime (p = 0.05), best of 8 instances: {problem}"


@graded(points=2, timeout=180, measures=True)
def test_medium_regime_forms_antipodal_pairs(sub, ref):
    W, best = _trained_regimes(sub, ref)
    problem = judge_antipodal_pairs(ref, W[best[1]])
    assert problem is None, f"medium regime (p = 0.3), best of 8 instances: {problem}"


@graded(points=2, timeout=180, measures=True)
def test_dense_regime_keeps_two_orthogonal_features(sub, ref):
    W, best = _trained_regimes(sub, ref)
    problem = judge_two_orthogonal(ref, W[best[2]])
    assert problem is None, f"dense regime, importance 0.7^i, best of 8 instances: {problem}"


# --------------------------------------------------------------------------------------------------
# 5. Geometry measures
# --------------------------------------------------------------------------------------------------

def _pentagon(scale: float = 1.0, rotation: float = 0.3) -> torch.Tensor:
    angles = torch.arange(5) * 2 * torch.pi / 5 + rotation
    return scale * torch.stack([angles.cos(), angles.sin()])


@graded(points=2)
def test_feature_dimensionality(sub, ref):
    torch.manual_seed(4)
    W = torch.randn(4, 3, 6)
    W[1, :, 2] = 0  # an ignored feature
    expected = ref.feature_dimensionality(W)
    actual = tensor(sub.feature_dimensionality(W), "feature_dimensionality")
    length = W.norm(dim=1)  # ‖W_i‖: [inst, feat]
    gram_sq = torch.einsum("ihf,ihg->ifg", W, W) ** 2
    assert close(actual, expected), diagnose(actual, expected, "feature_dimensionality", {
        "normalise W_i in the denominator: sum_j (Ŵ_i · W_j)², with Ŵ_i = W_i / ‖W_i‖":
            length**2 / (gram_sq.sum(-1) + 1e-8),
        "the numerator is the squared norm ‖W_i‖², not the norm": length / (gram_sq.sum(-1) / (length**2 + 1e-8) + 1e-8),
    }) + " (hint: a feature with zero norm must get dimensionality 0, not nan)"
    pentagon = tensor(sub.feature_dimensionality(_pentagon(0.8)[None]), "feature_dimensionality")
    assert torch.allclose(pentagon, torch.full((1, 5), 0.4), atol=tol.EXACT_PENTAGON_D_TOL), (
        f"a regular pentagon must give D = 0.4, got {pentagon}")


@graded(points=2)
def test_neighbour_gaps(sub, ref):
    gaps = tensor(sub.neighbour_gaps(_pentagon()), "neighbour_gaps")
    assert gaps.shape == (5,) and torch.allclose(gaps, torch.full((5,), 72.0), atol=tol.EXACT_PENTAGON_GAP_TOL), (
        f"a regular pentagon has five gaps of 72°, got {gaps.tolist()}")
    torch.manual_seed(5)
    W = torch.randn(2, 9)
    W[:, :3] *= 0.1  # too short to count as represented
    expected = ref.neighbour_gaps(W)
    actual = tensor(sub.neighbour_gaps(W), "neighbour_gaps")
    if actual.shape == (expected.shape[0] - 1,):
        raise AssertionError("one gap is missing: include the wrap-around gap from the last feature back to the first")
    if actual.shape == (9,):
        raise AssertionError("only features with norm > min_norm count as represented")
    assert close(actual, expected), diagnose(actual, expected, "neighbour_gaps", {
        "order the gaps by increasing angle of the feature they start from": expected.sort().values,
        "return degrees, not radians": torch.deg2rad(expected),
    })


# --------------------------------------------------------------------------------------------------
# 6. Interference
# --------------------------------------------------------------------------------------------------

@graded(points=2)
def test_pair_errors(sub, ref):
    from gradebox.standins import InstanceMap

    torch.manual_seed(6)
    M, c = torch.randn(3, 5, 5), torch.randn(3, 5)  # a stand-in model: any map of [batch, inst, feat]
    model = InstanceMap(M, c, n_hidden=2)
    expected = ref.pair_errors(model, 1)
    actual = tensor(sub.pair_errors(box_module(sub, "gradebox.standins").InstanceMap(M, c, 2), 1), "pair_errors")
    assert close(actual, expected), diagnose(actual, expected, "pair_errors", {
        "sum the squared error over features, don't average it": expected / 5,
        "you returned the errors of instance 0; use the `instance` argument": ref.pair_errors(model, 0),
        "you returned the errors of the last instance; use the `instance` argument": ref.pair_errors(model, 2),
    }) + " (on the diagonal only feature i is on, at value 1, not 2)"


# --------------------------------------------------------------------------------------------------
# 7. The original exercise's model
# --------------------------------------------------------------------------------------------------

@graded(points=2)
def test_seed_toy_model_forward(sub, ref):
    student = sub.SeedToyModel(3, 5, 2)
    torch.manual_seed(7)
    reference = ref.SeedToyModel(3, 5, 2)
    params = randomised(reference.state_dict(), 0.5)
    same_shapes(state(student, "SeedToyModel"), params, "SeedToyModel")
    reference.load_state_dict(params)
    student.load_state_dict(params)
    x = torch.rand(32, 3, 5)
    expected = reference(x).detach()
    actual = tensor(student(x), "SeedToyModel.forward")
    pre = torch.einsum("ihf,bif->bih", reference.W_enc, x) + reference.b_enc
    decode = lambda h: torch.einsum("ifh,bih->bif", reference.W_dec, h) + reference.b_dec  # noqa: E731
    assert close(actual, expected), diagnose(actual, expected, "SeedToyModel.forward", {
        "this model has a ReLU on the hidden layer": decode(pre).detach(),
        "this model has no ReLU on the output": F.relu(decode(F.relu(pre))).detach(),
    })


# 400 steps at lr 1e-2, batch 256: the original model's loss stays 5.6-5.9x the real model's (4 seeds
# measured; 5.7-5.8x at 1500 steps and lr 3e-3), and a tied model with an output ReLU 1.0x.
SPARSE = dict(p=torch.full((8, 5), 0.05), importance=torch.ones(8, 5), steps=400, lr=1e-2, batch_size=256)


@answer
def real_model_sparse_loss(ref) -> float:
    """The real toy model at p = 0.05, trained like the test's: the best instance's measured loss."""
    p, importance, steps, lr, batch_size = SPARSE.values()
    torch.manual_seed(0)
    model = ref.ToyModel(8, 5, 2)
    ref.train_toy_model(model, p, importance, steps=steps, lr=lr, batch_size=batch_size, progress=False)
    return measured_loss(ref, model, p, importance).min().item()


@graded(points=1, visible=False, timeout=120, measures=True)
def test_seed_toy_model_loses_to_real_model(sub, ref):
    p, importance, steps, lr, batch_size = SPARSE.values()
    seed(sub, 0)
    model = sub.SeedToyModel(8, 5, 2)
    tensor(sub.train_toy_model(model, p, importance, steps=steps, lr=lr, batch_size=batch_size, progress=False),
           "train_toy_model")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        x = ref.generate_batch(tol.EVAL_SAMPLES, p)
    out = tensor(model(x), "SeedToyModel.forward")
    original, real = ref.importance_weighted_loss(out, x, importance).min().item(), real_model_sparse_loss()
    assert original > tol.SEED_MODEL_LOSS_RATIO * real, (
        f"trained at p = 0.05 by your loop, your SeedToyModel reaches loss {original:.5f}, close to the real toy "
        f"model's {real:.5f}: it should be the original exercise's model (untied, hidden ReLU, linear output)")


# --------------------------------------------------------------------------------------------------
# 8. Toy SAE
# --------------------------------------------------------------------------------------------------

@graded(points=2)
def test_toy_sae_forward(sub, ref):
    student, reference = paired_modules(sub, ref, "ToySAE", 3, 2, 6, seed=8)
    h = torch.randn(40, 3, 2)
    z_expected, h_hat_expected = (t.detach() for t in reference(h))
    z, h_hat = (tensor(t, "ToySAE.forward") for t in student(h))
    encode = lambda v: (torch.einsum("bid,idl->bil", v, reference.W_enc) + reference.b_enc).detach()  # noqa: E731
    assert close(z, z_expected), diagnose(z, z_expected, "the latents z", {
        "subtract the decoder bias before encoding: W_enc (h - b_dec) + b_enc": F.relu(encode(h)),
        "the latents need a ReLU": encode(h - reference.b_dec),
    })
    assert close(h_hat, h_hat_expected), diagnose(h_hat, h_hat_expected, "the reconstruction h_hat", {
        "add the decoder bias b_dec to the reconstruction": (h_hat_expected - reference.b_dec).detach(),
    })


@graded(points=1)
def test_toy_sae_loss(sub, ref):
    student, reference = paired_modules(sub, ref, "ToySAE", 3, 2, 6, seed=8)
    h = torch.randn(40, 3, 2)
    expected = reference.loss(h, 0.3).detach()
    actual = tensor(student.loss(h, 0.3), "ToySAE.loss")
    z, h_hat = (t.detach() for t in reference(h))
    mse_sum, l1 = (h - h_hat).pow(2).sum(-1), z.abs().sum(-1)
    assert close(actual, expected), diagnose(actual, expected, "ToySAE.loss", {
        "sum the squared error over d_in (it is ‖h - ĥ‖²), don't average it": ((h - h_hat).pow(2).mean(-1) + 0.3 * l1).mean(0),
        "the L1 penalty is on the latents z, not on the reconstruction": (mse_sum + 0.3 * h_hat.abs().sum(-1)).mean(0),
        "multiply the L1 term by l1_coeff": (mse_sum + l1).mean(0),
        "return one loss per instance, averaged over the batch": (mse_sum + 0.3 * l1).sum(0),
    })


@graded(points=2)
def test_resample_dead_latents(sub, ref):
    # d_in = 8, so that random inputs point in clearly different directions (in 2-D, one of 256
    # inputs is always within a degree of any other, and a missing "- b_dec" would go unnoticed).
    student, _ = paired_modules(sub, ref, "ToySAE", 2, 8, 6, seed=8)
    dead = torch.tensor([[True, False, False, True, False, False], [False] * 6])
    before = state(student, "ToySAE")
    torch.manual_seed(9)
    h = torch.randn(256, 2, 8)
    count = number(sub.resample_dead_latents(student, h, dead), "resample_dead_latents")
    assert count == 2, f"resample_dead_latents should return the number of dead latents resampled (2), got {count:g}"
    after = state(student, "ToySAE")
    alive = ~dead
    for name in ("W_dec", "b_enc"):
        assert torch.equal(after[name][alive], before[name][alive]), f"alive latents' {name} must not change"
    assert torch.equal(after["W_enc"].transpose(1, 2)[alive], before["W_enc"].transpose(1, 2)[alive]), (
        "alive latents' encoder columns must not change")
    rows = after["W_dec"][0, [0, 3]]
    assert torch.allclose(rows.norm(dim=-1), torch.ones(2), atol=tol.ROW_NORM), (
        "resampled decoder rows must be unit vectors")
    targets = F.normalize(h[:, 0] - before["b_dec"][0], dim=-1)  # every candidate direction in the batch
    best = (rows @ targets.T).max(1).values
    assert (best > 1 - tol.SAME_DIRECTION).all(), (
        "each resampled decoder row must be an input from the batch minus b_dec, normalised (did you forget "
        "to subtract b_dec?)")
    alive_scale = before["W_enc"][0][:, alive[0]].norm(dim=0).mean()
    enc = after["W_enc"][0][:, [0, 3]].T
    assert torch.allclose(enc, rows * 0.2 * alive_scale, atol=tol.ATOL), (
        "the encoder column of a resampled latent is its decoder direction times 0.2 x the mean norm of the "
        "alive encoder columns")
    assert (after["b_enc"][0, [0, 3]] == 0).all(), "reset the encoder bias of resampled latents to 0"


def judge_toy_sae(ref, W_dec: torch.Tensor, W_true: torch.Tensor, fired: torch.Tensor, final_loss: torch.Tensor) -> str | None:
    """None if the lowest-loss SAE instance recovers enough features and has no dead latents.

    W_dec: [inst, latents, d]; W_true: [inst, d, feat]; fired: [inst, latents] bool; final_loss: [inst].
    """
    best = final_loss.argmin()
    recovered = ref.recovered_features(W_dec, W_true, tol.SAE_COSINE)
    dead = int((~fired[best]).sum())
    if recovered[best] < tol.SAE_MIN_RECOVERED:
        return (f"the best SAE instance recovers {recovered[best]} of 5 features at cosine > {tol.SAE_COSINE} "
                f"(per instance: {recovered.tolist()}): check the encoder/decoder, the loss and resampling")
    return f"the best SAE instance still has {dead} dead latents after resampling" if dead else None


def fired_latents(ref, sae, target, p: torch.Tensor, n: int = 20_000) -> torch.Tensor:
    """Which latents fire at least once on ``n`` fresh inputs: [inst, latents] bool."""
    with torch.no_grad():
        z, _ = sae(target.hidden(ref.generate_batch(n, p)))
    return (z > 0).any(0)


@graded(points=3, timeout=180, measures=True)
def test_toy_sae_recovers_features(sub, ref):
    target = ref.pentagon_model(8)
    seed(sub, 0)
    student_target = sub.ToyModel(8, 5, 2)
    student_target.load_state_dict(target.state_dict())
    student_sae = sub.ToySAE(8, 2, 5)
    p = torch.full((8, 5), 0.02)
    tensor(sub.train_toy_sae(student_sae, student_target, p, progress=False, **TOY_SAE_TRAINING), "train_toy_sae")
    sae = loaded(ref.ToySAE(8, 2, 5), state(student_sae, "ToySAE"), "ToySAE")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(1234)
        final_loss = sae.loss(target.hidden(ref.generate_batch(tol.EVAL_SAMPLES, p)), 0.3)
    problem = judge_toy_sae(ref, sae.W_dec.detach(), target.W.detach(), fired_latents(ref, sae, target, p), final_loss)
    assert problem is None, problem
