"""Graded tests for Part 2, training SAEs on real language-model activations.

The submission's SAEs are trained in its own confined process; the judge takes back their
parameters and measures them itself (recovered directions, L0, explained variance)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from gradebox.standins import Reconstruction
from grader import tolerances as tol
from grader.answers import answer
from grader.checks import box_module, close, diagnose, loaded, number, paired_modules, seed, state, tensor
from grader.framework import graded
from grader.remote import SubmissionError
from grader.replay import recorded


# --------------------------------------------------------------------------------------------------
# 1. Massive activations
# --------------------------------------------------------------------------------------------------

@graded(points=2)
def test_massive_activations(sub, ref):
    torch.manual_seed(0)
    ctx_len = 8
    context_pos = torch.arange(ctx_len).repeat(50)
    acts = torch.randn(len(context_pos), 16) + 3.0
    acts[context_pos == 0] *= 40  # a massive first position
    expected = ref.median_norm_by_position(acts, context_pos, ctx_len)
    actual = tensor(sub.median_norm_by_position(acts, context_pos, ctx_len), "median_norm_by_position")
    lengths = acts.norm(dim=-1)
    means = torch.stack([lengths[context_pos == p].mean() for p in range(ctx_len)])
    assert close(actual, expected), diagnose(actual, expected, "median_norm_by_position", {
        "use the median norm, not the mean": means})
    for k in (1, 3):
        share = number(sub.variance_share_of_first_positions(acts, context_pos, k), "variance_share_of_first_positions")
        want = ref.variance_share_of_first_positions(acts, context_pos, k)
        raw = (acts.pow(2).sum(-1)[context_pos < k].sum() / acts.pow(2).sum()).item()
        hint = (" (measure squared deviations from the mean vector, ‖x - x̄‖², not ‖x‖²)"
                if abs(share - raw) < tol.MISTAKE else "")
        assert abs(share - want) < tol.ATOL, (
            f"variance share of the first {k} positions: expected {want:.4f}, got {share:.4f}{hint}")


# --------------------------------------------------------------------------------------------------
# 2. SAE module
# --------------------------------------------------------------------------------------------------

def _paired_saes(sub, ref):
    """A student SAE and a reference SAE (16 -> 48) with the same parameters."""
    return paired_modules(sub, ref, "SAE", 16, 48, seed=1, needs={"W_enc", "W_dec", "b_enc", "b_dec"})


@graded(points=1)
def test_sae_init(sub, ref):
    seed(sub, 2)
    sae = sub.SAE(16, 48)
    params = state(sae, "SAE", {"W_enc", "W_dec", "b_enc", "b_dec"})
    W_enc, W_dec = params["W_enc"], params["W_dec"]
    assert W_dec.shape == (48, 16) and W_enc.shape == (16, 48), (
        f"SAELens layout: W_enc [d_in, d_sae] = (16, 48) and W_dec [d_sae, d_in] = (48, 16); got {tuple(W_enc.shape)}, {tuple(W_dec.shape)}")
    norms = W_dec.norm(dim=-1)
    assert torch.allclose(norms, torch.full((48,), 0.1), atol=tol.ROW_NORM_SMALL), (
        f"decoder rows must start at norm init_norm = 0.1 (the default); got norms {norms.min():.3g}-{norms.max():.3g}")
    assert torch.allclose(W_enc, W_dec.T), "W_enc must start as the transpose of W_dec"
    assert (params["b_enc"] == 0).all() and (params["b_dec"] == 0).all(), "biases start at zero"
    sae.load_state_dict({**params, "W_dec": W_dec + 1.0})
    assert torch.equal(state(sae, "SAE")["W_enc"], W_enc), (
        "changing W_dec changed W_enc: W_enc must be a copy (.clone()), not a view sharing W_dec's memory")
    assert (W_dec / norms[:, None]).std() > 0.05, "the decoder's directions must be random"
    wide = state(sub.SAE(16, 48, init_norm=2.5), "SAE")["W_dec"].norm(dim=-1)
    assert torch.allclose(wide, torch.full((48,), 2.5), atol=tol.ROW_NORM), (
        f"SAE(16, 48, init_norm=2.5) must start with decoder rows of norm 2.5; got {wide.min():.3g}-{wide.max():.3g}")


@graded(points=3)
def test_sae_forward(sub, ref):
    student, reference = _paired_saes(sub, ref)
    x = torch.randn(2, 5, 16) * 2
    z_expected = reference.encode(x).detach()
    z = tensor(student.encode(x), "SAE.encode")
    pre = lambda v: (v @ reference.W_enc + reference.b_enc).detach()  # noqa: E731
    assert close(z, z_expected), diagnose(z, z_expected, "SAE.encode", {
        "you forgot the pre-encoder bias: encode x - b_dec": F.relu(pre(x)),
        "the codes need a ReLU": pre(x - reference.b_dec),
    })
    x_hat_expected = reference.decode(z_expected).detach()
    x_hat = tensor(student.decode(z_expected), "SAE.decode")
    assert close(x_hat, x_hat_expected), diagnose(x_hat, x_hat_expected, "SAE.decode", {
        "add b_dec to the reconstruction": (z_expected @ reference.W_dec).detach()})
    out = student(x)
    assert isinstance(out, tuple) and len(out) == 2, "forward returns (x_hat, z)"
    assert close(tensor(out[0], "SAE.forward"), reference(x)[0].detach()), "forward must return (x_hat, z), in that order"


# --------------------------------------------------------------------------------------------------
# 3. Loss and folding the decoder norms
# --------------------------------------------------------------------------------------------------

@graded(points=3)
def test_sae_loss(sub, ref):
    torch.manual_seed(3)
    x, x_hat, z = torch.randn(32, 16), torch.randn(32, 16), F.relu(torch.randn(32, 48))
    norms = torch.rand(48) * 2 + 0.1
    expected = torch.stack(ref.sae_loss(x, x_hat, z, norms, 0.7))
    result = sub.sae_loss(x, x_hat, z, norms, 0.7)
    assert len(result) == 3, "sae_loss returns (loss, mse, l1)"
    actual = torch.stack([tensor(t, "sae_loss").reshape(()) for t in result])
    sq, weighted = (x - x_hat).pow(2), z * norms
    def combo(mse, l1):  # noqa: E306
        return torch.stack([mse + 0.7 * l1, mse, l1])
    assert close(actual, expected), diagnose(actual, expected, "sae_loss (loss, mse, l1)", {
        "weight each code by its decoder row's norm: l1 = Σ_i z_i ‖W_dec[i]‖ (a plain Σ_i z_i can be dodged by "
        "shrinking codes and growing rows)": combo(sq.sum(-1).mean(), z.sum(-1).mean()),
        "sum the squared error over d_in and average over the batch (you averaged over d_in too)":
            combo(sq.mean(), weighted.sum(-1).mean()),
        "MSE reduced over the wrong axis: sum over d_in, mean over the batch": combo(sq.sum(0).mean(), weighted.sum(-1).mean()),
        "the L1 penalty is on the codes z, not on the reconstruction": combo(sq.sum(-1).mean(), x_hat.abs().sum(-1).mean()),
        "the L1 term is summed over latents (and averaged over the batch)": combo(sq.sum(-1).mean(), weighted.mean()),
        "weight the L1 term by l1_coeff": torch.stack([sq.sum(-1).mean() + weighted.sum(-1).mean(), sq.sum(-1).mean(),
                                                      weighted.sum(-1).mean()]),
    })


def _sae_forward(params: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's own SAE forward pass with ``params``: (x_hat [n, d_in], z [n, d_sae]) for x [n, d_in]."""
    z = F.relu((x - params["b_dec"]) @ params["W_enc"] + params["b_enc"])
    return z @ params["W_dec"] + params["b_dec"], z


@recorded
def folded(ref, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference's ``fold_decoder_norms`` applied to an SAE with ``params``: the folded parameters."""
    sae = ref.SAE(*params["W_enc"].shape)
    sae.load_state_dict(params)
    ref.fold_decoder_norms(sae)
    return {k: v.detach().clone() for k, v in sae.state_dict().items()}


@graded(points=2)
def test_fold_decoder_norms(sub, ref):
    student, reference = _paired_saes(sub, ref)
    torch.manual_seed(4)
    params = {k: v.detach() for k, v in reference.state_dict().items()}
    params = {**params, "W_dec": params["W_dec"] * (torch.rand(48, 1) * 3 + 0.05), "b_enc": params["b_enc"] + 0.1}
    student.load_state_dict(params)
    sub.fold_decoder_norms(student)
    got, want = state(student, "SAE", set(params)), folded(ref, params)
    x = torch.randn(64, 16) * 3
    x_hat_before, z_before = _sae_forward(params, x)
    x_hat_after, z_after = _sae_forward(got, x)
    norms = got["W_dec"].norm(dim=-1)
    assert torch.allclose(norms, torch.ones(48), atol=tol.ROW_NORM), (
        f"after fold_decoder_norms every decoder row must have unit norm; got norms {norms.min():.3g}-{norms.max():.3g}")
    assert close(x_hat_after, x_hat_before), diagnose(x_hat_after, x_hat_before, "the reconstruction after folding", {}) + (
        " (folding must not change the reconstruction: multiply W_enc's column i and b_enc[i] by the norm n_i that "
        "you divide W_dec's row i by)")
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert close(got[name], want[name]), diagnose(got[name], want[name], f"{name} after folding", {})
    n = params["W_dec"].norm(dim=-1)
    assert close(z_after, z_before * n), "after folding, code i must be n_i times the code before"


@graded(points=2)
def test_schedules(sub, ref):
    total = 1000
    for step in (0, 10, 25, 49, 50, 51, 400, 799, 800, 900, 999, 1000):
        l1, l1_ref = number(sub.l1_coefficient(step, total, 5.0, 0.05), "l1_coefficient"), ref.l1_coefficient(step, total, 5.0, 0.05)
        assert abs(l1 - l1_ref) < tol.SCHEDULE_L1, (
            f"l1_coefficient(step={step}, total=1000, 5.0, warmup 0.05) = {l1}, expected {l1_ref}")
        lr, lr_ref = number(sub.learning_rate(step, total, 1e-3, 0.2), "learning_rate"), ref.learning_rate(step, total, 1e-3, 0.2)
        assert abs(lr - lr_ref) < tol.SCHEDULE_LR, (
            f"learning_rate(step={step}, total=1000, 1e-3, decay 0.2) = {lr}, expected {lr_ref}")


# --------------------------------------------------------------------------------------------------
# 4. Training
# --------------------------------------------------------------------------------------------------

@recorded
def reference_trained(ref, params: dict[str, torch.Tensor], x: torch.Tensor, cfg: dict) -> dict[str, torch.Tensor]:
    """The parameters of an SAE started at ``params`` after the reference's ``train_sae`` on ``x``."""
    sae = ref.SAE(*params["W_enc"].shape)
    sae.load_state_dict(params)
    ref.train_sae(sae, x, ref.TrainConfig(**cfg), progress=False)
    return {k: v.detach().clone() for k, v in sae.state_dict().items()}


def _raises(call) -> bool:
    """Whether a call of the submission's code raises there."""
    try:
        call()
    except SubmissionError as err:
        if not err.raised:  # out of time, past a bound: not an answer to the question
            raise
        return True
    return False


def train_submitted(sub, sae, x: torch.Tensor, cfg) -> None:
    """``sub.train_sae(sae, x, cfg)``; when it raises and the Exercise 5.1 metrics its logging calls raise
    too, the failure says so instead of blaming the loop."""
    try:
        sub.train_sae(sae, x, cfg, progress=False)
    except SubmissionError as err:
        if not err.raised:
            raise
        z, x_small = torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        broken = [name for name, call in (("l0_norm", lambda: number(sub.l0_norm(z), "l0_norm")),
                                          ("explained_variance", lambda: number(sub.explained_variance(x_small, x_small),
                                                                                "explained_variance")))
                  if _raises(call)]
        if not broken:
            raise
        raise AssertionError(
            f"train_sae raised ({err.student_message().splitlines()[0]}): its logging calls {' and '.join(broken)} "
            "from Exercise 5.1, which raise(s) too. Implement Exercise 5.1 before training.") from None


@graded(points=2)
def test_training_steps_match_reference(sub, ref):
    student, reference = _paired_saes(sub, ref)
    params = {k: v.detach() for k, v in reference.state_dict().items()}
    torch.manual_seed(7)
    x = torch.randn(96, 16) * 2 + 0.5
    # 6 steps: L1 warm-up over the first 3, LR decay over the last 3, gradients clipped (their norm is about 5)
    cfg = {"d_sae": 48, "l1_coeff": 0.05, "lr": 1e-2, "batch_size": 32, "epochs": 2, "max_grad_norm": 1.0,
           "l1_warmup_frac": 0.5, "lr_decay_frac": 0.5, "seed": 0, "log_every": 1}
    train_submitted(sub, student, x, sub.TrainConfig(**cfg))
    got, want = state(student, "SAE", set(params)), reference_trained(ref, params, x, cfg)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert close(got[name], want[name]), diagnose(got[name], want[name], f"{name} after 6 training steps", {}) + (
            ": every step must set the learning rate and λ from the schedules, use the loss with the decoder norms, "
            "zero the old gradients, back-propagate, clip the gradient norm to cfg.max_grad_norm and step, in that order")


def train_in_submission(sub, ref, x: torch.Tensor, cfg) -> torch.nn.Module:
    """Train the student's SAE with the student's loop on ``x`` (seeded); return its parameters
    in a reference ``SAE`` here, for the judge to measure."""
    seed(sub, 0)
    sae = sub.SAE(x.shape[1], cfg.d_sae)
    train_submitted(sub, sae, x, sub.TrainConfig(**dataclasses.asdict(cfg)))
    return loaded(ref.SAE(x.shape[1], cfg.d_sae), state(sae, "SAE"), "SAE")


@graded(points=3, timeout=180, measures=True)
def test_training_recovers_synthetic_features(sub, ref):
    x, directions = ref.synthetic_sparse_data(tol.SYNTHETIC_SAMPLES)
    sae = train_in_submission(sub, ref, x, dataclasses.replace(ref.SYNTHETIC, **tol.SYNTHETIC_TRAINING))
    recovered = ref.recovered_fraction(sae.W_dec.detach(), directions, tol.SYNTHETIC_COSINE)
    norms = sae.W_dec.detach().norm(dim=-1)
    with torch.no_grad():
        l0 = ref.l0_norm(sae.encode(x[:10_000]))
    assert recovered >= tol.SYNTHETIC_RECOVERED, (
        f"your loop recovers {recovered:.0%} of 256 known directions (cosine > {tol.SYNTHETIC_COSINE}); the reference "
        f"recovers > 99%. Final L0 {l0:.1f} (true 4), decoder row norms {norms.min():.2f}-{norms.max():.2f}: "
        "check the schedules, the loss (L1 weighted by the decoder rows' norms), gradient clipping and optimizer.zero_grad()")
    assert (norms - 1).abs().max() < tol.FOLDED_NORM, (
        f"after training, decoder rows have norms {norms.min():.3f}-{norms.max():.3f}: train_sae must end by folding "
        "them (fold_decoder_norms)")


def _real_activations(ref):
    from saecourse.activations import cached_activations

    x = cached_activations(None, None, "train", n_tokens=tol.REAL_TOKENS, progress=False).acts
    return x, ref.TrainConfig(d_sae=2 * x.shape[1], l1_coeff=20.0, epochs=3, batch_size=512)


def _real_metrics(ref, sae, x: torch.Tensor) -> tuple[float, float]:
    """L0 and explained variance on the first ``REAL_EVAL_TOKENS`` training activations."""
    with torch.no_grad():
        x = x[:tol.REAL_EVAL_TOKENS]
        reconstruction, codes = sae(x)
    return ref.l0_norm(codes), ref.explained_variance(x, reconstruction)


@answer
def reference_real_metrics(ref) -> tuple[float, float]:
    """L0 and explained variance of the reference SAE trained on the real activations."""
    x, cfg = _real_activations(ref)
    torch.manual_seed(0)
    sae = ref.SAE(x.shape[1], cfg.d_sae)
    ref.train_sae(sae, x, cfg, progress=False)
    return _real_metrics(ref, sae, x)


@graded(points=2, visible=False, timeout=600, measures=True)
def test_training_on_real_activations_matches_reference(sub, ref):
    x, cfg = _real_activations(ref)
    (l0, ev), (l0_ref, ev_ref) = _real_metrics(ref, train_in_submission(sub, ref, x, cfg), x), reference_real_metrics()
    assert abs(l0 - l0_ref) <= tol.REAL_L0_RTOL * l0_ref and ev >= ev_ref - tol.REAL_EV_DROP, (
        f"on {len(x)} real activations your SAE reaches L0 {l0:.1f}, EV {ev:.3f}; the reference, trained the same "
        f"way, L0 {l0_ref:.1f}, EV {ev_ref:.3f}")


# --------------------------------------------------------------------------------------------------
# 5. Metrics
# --------------------------------------------------------------------------------------------------

@graded(points=1)
def test_l0_norm(sub, ref):
    z = torch.tensor([[0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 3.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    value = number(sub.l0_norm(z), "l0_norm")
    assert abs(value - 7 / 3) < tol.CLOSED_FORM, (
        f"l0_norm of rows with 2, 1 and 4 active latents is 7/3, got {value}: count z > 0 per row, then average rows")


@graded(points=2)
def test_explained_variance(sub, ref):
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x_hat = torch.tensor([[1.0, 2.0], [2.0, 5.0]])
    value = number(sub.explained_variance(x, x_hat), "explained_variance")
    naive = 1 - ((x - x_hat) ** 2).mean() / x.var()
    hint = (" (that is the original exercise's 1 - MSE / x.var(); use the variance around the mean vector)"
            if abs(value - naive) < tol.MISTAKE else "")
    assert abs(value - 0.5) < tol.CLOSED_FORM, f"Σ‖x - x̂‖² = 2 and Σ‖x - x̄‖² = 4, so EV = 0.5; got {value}{hint}"
    torch.manual_seed(5)
    x, x_hat = torch.randn(100, 8) + 5, torch.randn(100, 8) + 5
    value, want = number(sub.explained_variance(x, x_hat), "explained_variance"), ref.explained_variance(x, x_hat)
    assert abs(value - want) < tol.ATOL, f"explained_variance on random data: expected {want:.4f}, got {value:.4f}"


@graded(points=2)
def test_feature_density(sub, ref):
    z = torch.tensor([[0.0, 2.0, 0.0, 0.1], [0.0, 3.0, 0.0, 0.0], [0.0, 1.0, 0.2, 0.0], [0.0, 0.5, 0.0, 0.0]])
    density = tensor(sub.feature_density(z), "feature_density")
    expected = torch.tensor([0.0, 1.0, 0.25, 0.25])
    assert close(density, expected), diagnose(density, expected, "feature_density", {
        "density is how often a latent fires (z > 0), not its mean activation": z.mean(0)})
    counts = tuple(number(c, "dead_and_dense") for c in sub.dead_and_dense(expected, 0.25))
    assert counts == (1, 1), f"dead_and_dense([0, 1, .25, .25], 0.25) should be (1, 1): dense means density > threshold; got {counts}"


# --------------------------------------------------------------------------------------------------
# 6. CE loss recovered
# --------------------------------------------------------------------------------------------------

@graded(points=3, timeout=180)
def test_ce_loss_recovered(sub, ref):
    from saecourse.models import tiny_gpt2

    model, _ = tiny_gpt2(seed=0, n_layer=3, n_embd=64)
    student_model, _ = box_module(sub, "saecourse.models").tiny_gpt2(seed=0, n_layer=3, n_embd=64)
    standins = box_module(sub, "gradebox.standins")
    torch.manual_seed(6)
    A, b = torch.eye(64) + 0.5 * torch.randn(64, 64), 0.1 * torch.randn(64)  # a poor reconstruction
    tokens = torch.randint(0, 50257, (10, 24))  # more contexts than the reference's CHUNK of 8
    clean_logits = model(input_ids=tokens).logits
    expected = ref.ce_loss_recovered(model, Reconstruction(A, b), tokens, 1, 3)
    actual = sub.ce_loss_recovered(student_model, standins.Reconstruction(A, b), tokens, 1, 3)
    assert torch.allclose(tensor(student_model(input_ids=tokens).logits, "logits"), clean_logits,
                          atol=tol.SAME_MODEL), (
        "after ce_loss_recovered the model's output changed: a hook was left registered (remove hooks, also on errors)")
    assert isinstance(actual, dict) and set(actual) >= set(expected), f"return a dict with keys {sorted(expected)}"
    got = {k: number(actual[k], f"ce_loss_recovered()[{k!r}]") for k in expected}
    for key in ("clean", "sae", "zero_ablated"):
        assert abs(got[key] - expected[key]) < tol.THROUGH_MODEL, (
            f"{key} loss: expected {expected[key]:.5f}, got {got[key]:.5f} (patch the residual stream after block `layer` "
            "only at positions >= skip_first, and average the losses over those positions)")
    inverted = (got["sae"] - got["clean"]) / (got["zero_ablated"] - got["clean"])
    hint = (" (that is the fraction lost, not recovered)"
            if abs(got["recovered"] - inverted) < tol.RECOVERED_RATIO else "")
    assert abs(got["recovered"] - expected["recovered"]) < tol.CE_DERIVED, (
        f"recovered = (CE_zero - CE_sae) / (CE_zero - CE_clean) = {expected['recovered']:.4f}, got {got['recovered']:.4f}{hint}")
    increase = expected["sae"] - expected["clean"]
    for key, want, hint in (
            ("increase", increase, "CE_sae - CE_clean in nats, not a ratio"),
            ("increase_pct", 100 * increase / expected["clean"], "100 (CE_sae - CE_clean) / CE_clean, a percentage"),
            ("kl", expected["kl"], "KL(clean ‖ spliced) = Σ_v p_clean (log p_clean - log p_spliced), summed over the "
                                   "vocabulary and averaged over the predicted positions from skip_first on")):
        assert abs(got[key] - want) < tol.CE_DERIVED * max(1.0, abs(want)), (
            f"{key}: expected {want:.5f}, got {got[key]:.5f} ({hint})")
    given = expected["zero_ablated"] + 1.0  # a CE_zero measured before (here a made-up one, so that using it shows)
    reused = sub.ce_loss_recovered(student_model, standins.Reconstruction(A, b), tokens, 1, 3, zero_ablated=given)
    reused = {k: number(reused[k], f"ce_loss_recovered(..., zero_ablated={given:.3f})[{k!r}]") for k in ("zero_ablated", "recovered")}
    want = (given - expected["sae"]) / (given - expected["clean"])
    assert reused["zero_ablated"] == given and abs(reused["recovered"] - want) < tol.CE_DERIVED, (
        f"given zero_ablated={given:.4f}, use it as CE_zero (do not measure it again): expected zero_ablated {given:.4f} "
        f"and recovered {want:.4f}, got {reused['zero_ablated']:.4f} and {reused['recovered']:.4f}")
    perfect = standins.Reconstruction(torch.eye(64), torch.zeros(64))
    lossless = {k: number(v, f"ce_loss_recovered()[{k!r}]")
                for k, v in sub.ce_loss_recovered(student_model, perfect, tokens, 1, 3).items()}
    assert (abs(lossless["sae"] - lossless["clean"]) < tol.LOSSLESS
            and abs(lossless["recovered"] - 1) < tol.RECOVERED_RATIO), (
        f"with an SAE that reconstructs perfectly, CE_sae must equal CE_clean and recovered must be 1; got "
        f"CE_sae {lossless['sae']:.5f}, CE_clean {lossless['clean']:.5f}, recovered {lossless['recovered']:.4f}")
    assert abs(lossless["kl"]) < tol.LOSSLESS, (
        f"with an SAE that reconstructs perfectly the KL divergence is 0; got {lossless['kl']:.3g}")
    # The random model's next-token distributions are nearly uniform, where KL(p ‖ q) and KL(q ‖ p) agree to
    # 1e-4; a final layer-norm gain of 10 makes them peaked, and the two directions then differ by 4%.
    peaked = {**model.state_dict(), "transformer.ln_f.weight": torch.full((64,), 10.0)}
    model.load_state_dict(peaked)
    student_model.load_state_dict(peaked)
    want = ref.ce_loss_recovered(model, Reconstruction(A, b), tokens, 1, 3)["kl"]
    kl = number(sub.ce_loss_recovered(student_model, standins.Reconstruction(A, b), tokens, 1, 3)["kl"], "ce_loss_recovered()['kl']")
    assert abs(kl - want) < tol.KL_RTOL * want, (
        f"on a model with peaked next-token distributions, KL(clean ‖ spliced) = {want:.4f}, got {kl:.4f} (average "
        "Σ_v p_clean (log p_clean - log p_spliced) over the predicted positions; the clean model's p comes first)")


# --------------------------------------------------------------------------------------------------
# 7. Applying a saved SAE
# --------------------------------------------------------------------------------------------------

def _saved_sae(d_in: int = 16, d_sae: int = 48) -> dict[str, torch.Tensor]:
    """The tensors of a standard SAE as a folder holds them, seeded, with nonzero biases."""
    g = torch.Generator().manual_seed(8)
    return {"W_enc": torch.randn(d_in, d_sae, generator=g) * 0.3, "b_enc": torch.randn(d_sae, generator=g) * 0.2,
            "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.3, "b_dec": torch.randn(d_in, generator=g)}


def _applied(tensors: dict[str, torch.Tensor], x: torch.Tensor, subtract_b_dec: bool, scale: torch.Tensor) -> tuple:
    """The judge's own standard SAE on ``x * scale`` (b_dec subtracted first or not), reconstruction divided by ``scale``."""
    x_in = x * scale - (tensors["b_dec"] if subtract_b_dec else 0)
    codes = F.relu(x_in @ tensors["W_enc"] + tensors["b_enc"])
    return (codes @ tensors["W_dec"] + tensors["b_dec"]) / scale, codes


@graded(points=2)
def test_apply_saved_sae(sub, ref):
    from saecourse.saelens import standard_config

    tensors = _saved_sae()
    torch.manual_seed(9)
    x = torch.randn(6, 16) * torch.tensor([[0.5], [1.0], [2.0], [4.0], [8.0], [20.0]]) + 0.5
    unit = torch.ones(6, 1)
    to_sqrt_d = 16 ** 0.5 / x.norm(dim=-1, keepdim=True)
    base = standard_config(16, 48, {"hook_name": "blocks.3.hook_resid_post"})
    for changes in ({}, {"apply_b_dec_to_input": False}, {"normalize_activations": "constant_norm_rescale"},
                    {"apply_b_dec_to_input": False, "normalize_activations": "constant_norm_rescale"}):
        cfg = {**base, **changes}
        x_hat_want, z_want = ref.apply_saved_sae(tensors, cfg, x)
        result = sub.apply_saved_sae(tensors, cfg, x)
        assert len(result) == 2, "apply_saved_sae returns (x_hat, z)"
        x_hat, z = tensor(result[0], "apply_saved_sae(...)[0]"), tensor(result[1], "apply_saved_sae(...)[1]")
        subtract, scale = cfg["apply_b_dec_to_input"], to_sqrt_d if changes.get("normalize_activations") else unit
        what = f"with {changes or 'the standard config'}"
        assert close(z, z_want), diagnose(z, z_want, f"the codes {what}", {
            "subtract b_dec before encoding only when cfg['apply_b_dec_to_input'] is true": _applied(tensors, x, not subtract, scale)[1],
            "constant_norm_rescale: scale each activation to norm √d_in before encoding": _applied(tensors, x, subtract, unit)[1],
        })
        assert close(x_hat, x_hat_want), diagnose(x_hat, x_hat_want, f"the reconstruction {what}", {
            "undo the normalisation on the way out: divide the reconstruction by the factor the input was scaled by":
                _applied(tensors, x, subtract, scale)[0] * scale,
        })
    for cfg, x_bad, why in (({**base, "architecture": "jumprelu"}, x, "another architecture"),
                            ({**base, "normalize_activations": "layer_norm"}, x, "a normalisation it does not implement"),
                            (base, torch.randn(6, 12), "activations of width 12 for an SAE with d_in 16")):
        try:
            sub.apply_saved_sae(tensors, cfg, x_bad)
        except SubmissionError as err:
            if not err.raised:
                raise
            assert err.kind == "ValueError", f"for {why}, raise a ValueError; got {err.kind}"
        else:
            raise AssertionError(f"apply_saved_sae must refuse {why} with a ValueError, not return codes")
