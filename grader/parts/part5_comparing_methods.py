"""Graded tests for Part 5, comparing with other methods.

Steering vectors, probes and sparse probing are checked on data the judge constructs from seeds,
where the answer is known by hand or computed by the reference; the plausible mistakes (a mean
over the wrong axis, a penalised bias, a regularisation chosen on the wrong rows, cosines of
unnormalised vectors, squared cosines summed as if decoder directions were orthogonal) are
computed here too, so that a failure names the mistake. Steering runs in the submission's process
on the tiny GPT-2 of Part 4, built from the same seed in both processes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from grader import tolerances as tol
from grader.checks import box_module, close, diagnose, judge_gpt2, number, random_tokens, submission_gpt2, tensor
from grader.framework import graded
from grader.replay import recorded
from saecourse.hooks import next_token_losses, patch_residual
from saecourse.models import greedy_continuation, residual_stream

D_MODEL, N_LAYER, LAYER = 64, 3, 1
PEAKED = 0.3  # the tiny GPT-2's init_std: peaked next-token distributions, so KL(P || Q) and KL(Q || P) differ


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


# --------------------------------------------------------------------------------------------------
# 2. A steering vector and a probe


@graded(points=2)
def test_mean_difference(sub, ref):
    g = torch.Generator().manual_seed(51)
    labels = torch.tensor([1.0] * 10 + [0.0] * 20)[torch.randperm(30, generator=g)]  # unbalanced, interleaved
    x = torch.randn(30, 6, generator=g) + 2.0 * labels[:, None] + 1.0
    got = tensor(sub.mean_difference(x, labels), "mean_difference")
    expected = ref.mean_difference(x, labels)
    mistakes = {
        "negatives minus positives: the vector must point toward the positive class": -expected,
        "the mean over all rows is not the negatives' mean: subtract the mean of the negative rows":
            x[labels == 1].mean(0) - x.mean(0),
        "the vector's length is the distance between the class means: do not normalise it": F.normalize(expected, dim=0),
    }
    hint = " (a mean over the wrong axis: average over the rows, dim 0, one value per dimension)" if got.shape != expected.shape else ""
    assert close(got, expected), diagnose(got, expected, "the mean difference", mistakes) + hint


def _gradient(x: torch.Tensor, y: torch.Tensor, l2: float, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The gradient of mean BCE + l2 / 2 ||w||² at (w, b), in float64: (d/dw [d], d/db)."""
    x, y, w = x.double(), y.double(), w.double()
    residual = torch.sigmoid(x @ w + b.double()) - y  # [n]
    return x.T @ residual / len(y) + l2 * w, residual.mean().item()


def _logistic_data(seed: int, n: int, d: int, separable: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g) * torch.linspace(0.5, 2.0, d)
    logit = x @ torch.randn(d, generator=g) + 0.7
    y = (logit > 0).float() if separable else (torch.rand(n, generator=g) < torch.sigmoid(logit)).float()
    return x, y


def _check_fit(sub, ref, x: torch.Tensor, y: torch.Tensor, l2: float, case: str) -> None:
    result = sub.fit_logistic(x, y, l2)
    assert isinstance(result, tuple) and len(result) == 2, "fit_logistic returns (w, b)"
    w, b = tensor(result[0], "w"), tensor(result[1], "b").reshape(())
    want_w, want_b = ref.fit_logistic(x, y, l2)
    assert w.shape == want_w.shape, f"{case}: w must have shape {tuple(want_w.shape)}, got {tuple(w.shape)}"
    if _relative_error(w, want_w) < tol.PROBE_FIT and abs(b - want_b) < tol.PROBE_FIT:
        return
    # Each plausible mistake minimises another objective; where it does, the gradient of the right
    # objective is what the missing or extra term contributes there.
    grad_w, grad_b = _gradient(x, y, l2, w, b)
    near = lambda a, want: (  # noqa: E731
        (a - want).norm() <= tol.GRADIENT_MATCH_RTOL * want.norm() + tol.GRADIENT_MATCH_ATOL)
    penalty = l2 * w.double()
    if (near(grad_w, torch.zeros_like(grad_w)) and abs(grad_b + l2 * b.item()) < tol.CONVERGED_GRADIENT
            and abs(grad_b) > tol.CONVERGED_GRADIENT):
        raise AssertionError(f"{case}: the bias is penalised too: the L2 penalty is on w only")
    if near(grad_w, -penalty) and abs(grad_b) < tol.CONVERGED_GRADIENT:
        raise AssertionError(f"{case}: the penalty is λ ||w||², twice the objective's λ / 2 ||w||²")
    if near(grad_w, penalty * (1 - 1 / len(y))) and abs(grad_b) < tol.CONVERGED_GRADIENT:
        raise AssertionError(f"{case}: the cross-entropy is summed over rows: take its mean, so that λ does not depend on n")
    if near(grad_w, penalty) and abs(grad_b) < tol.CONVERGED_GRADIENT:
        raise AssertionError(f"{case}: λ is ignored: add the penalty λ / 2 ||w||²")
    gradient = math.hypot(grad_w.norm().item(), grad_b)
    assert gradient < tol.CONVERGED_GRADIENT, (
        f"{case}: not converged: the objective's gradient at your (w, b) has norm {gradient:.2g} (0 at the minimum); "
        "run the optimiser to convergence (float64, full batch, LBFGS with line_search_fn='strong_wolfe')")
    raise AssertionError(f"{case}: w differs from the minimiser by {_relative_error(w, want_w):.2%} (b: got {b.item():.4f}, "
                         f"expected {want_b.item():.4f}), yet the gradient is small: is the objective mean BCE + λ / 2 ||w||²?")


@graded(points=3)
def test_fit_logistic(sub, ref):
    x, y = _logistic_data(52, 200, 8)
    _check_fit(sub, ref, x, y, 0.05, "200 noisy rows, λ = 0.05")
    x, y = _logistic_data(53, 100, 5, separable=True)
    _check_fit(sub, ref, x, y, 0.1, "separable rows, λ = 0.1 (the penalty alone keeps w finite)")


@graded(points=2)
def test_auroc(sub, ref):
    scores = torch.tensor([0.9, 0.8, 0.8, 0.3, 0.2, 0.8])
    labels = torch.tensor([1, 1, 0, 1, 0, 0])
    got = number(sub.auroc(scores, labels), "auroc")
    # positives 0.9, 0.8, 0.3 against negatives 0.8, 0.2, 0.8: 3 + (0.5 + 1 + 0.5) + 1 = 6 wins of 9
    hint = {round(7 / 9, 6): " (ties counted as wins: a tie counts one half)", round(5 / 9, 6): " (ties counted as losses: a tie counts one half)",
            round(1 / 3, 6): " (positives and negatives swapped)"}.get(round(got, 6), "")
    assert abs(got - 2 / 3) < tol.CLOSED_FORM, (
        f"3 positives against 3 negatives with two ties win 6 of 9 pairs: AUROC 2/3, got {got:.4f}{hint}")
    g = torch.Generator().manual_seed(54)
    labels = (torch.rand(500, generator=g) < 0.3).long()
    scores = torch.round((torch.randn(500, generator=g) + labels) * 4) / 4  # many ties
    got, want = number(sub.auroc(scores, labels), "auroc"), ref.auroc(scores, labels)
    assert abs(got - want) < tol.COUNTED, (
        f"500 scores with many ties, 30% positive: expected AUROC {want:.5f}, got {got:.5f}")


L2S = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]


def _probe_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """40 train rows in 30 dimensions (so a weakly regularised probe memorises them), 200
    validation and 300 test rows; dimensions on scales 0.2-5 and offsets about 3, so standardising
    matters. On this seed the best λ is 0.01 on the train rows, 100 on the validation rows and 10 on
    the test rows, so choosing on the wrong rows shows."""
    g = torch.Generator().manual_seed(0)
    n_train, n_validation, n_test, d = 40, 200, 300, 30
    n = n_train + n_validation + n_test
    scale, offset = torch.rand(d, generator=g) * 5 + 0.2, torch.randn(d, generator=g) * 3
    z = torch.randn(n, d, generator=g)
    labels = (torch.rand(n, generator=g) < torch.sigmoid(1.5 * z[:, 0] - z[:, 1] + 0.8 * z[:, 2])).float()
    split = torch.cat([torch.zeros(n_train), torch.ones(n_validation), torch.full((n_test,), 2.0)]).long()
    return z * scale + offset, labels, split


def _validating_on(x: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, rows: int) -> tuple[torch.Tensor, ...]:
    """The data with the rows of split ``rows`` copied in as the validation rows: a probe's
    validation AUROCs on it are its AUROCs on those rows (the train rows, or the test rows)."""
    order = torch.cat([torch.nonzero(split == s).squeeze(1) for s in (0, rows, 2)])
    sizes = [int((split == s).sum()) for s in (0, rows, 2)]
    return x[order], labels[order], torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))


@graded(points=3)
def test_train_probe(sub, ref):
    x, labels, split = _probe_data()
    got = sub.train_probe(x, labels, split, L2S)
    keys = {"w", "b", "mean", "std", "l2", "validation_auroc", "test_accuracy", "test_auroc"}
    assert isinstance(got, dict) and keys <= set(got), f"train_probe returns a dict with keys {sorted(keys)}"
    expected = ref.train_probe(x, labels, split, L2S)
    mean, std = tensor(got["mean"], "mean"), tensor(got["std"], "std")
    assert not close(mean, x.mean(0)), "standardise with the train rows' mean: the mean of all rows lets the test rows leak in"
    assert close(mean, expected["mean"]) and close(std, expected["std"]), (
        "mean and std are the train rows' per-dimension mean and standard deviation (x[train].mean(0), x[train].std(0))")
    on_validation = tensor(got["validation_auroc"], "validation_auroc")
    on_train, on_test = (ref.train_probe(*_validating_on(x, labels, split, rows), L2S)["validation_auroc"] for rows in (0, 2))
    assert on_validation.shape == expected["validation_auroc"].shape, (
        f"validation_auroc holds one AUROC per λ: shape ({len(L2S)},), got {tuple(on_validation.shape)}")
    assert not torch.allclose(on_validation, on_train, atol=tol.LEAK_AUROC), (
        "validation_auroc was measured on the train rows: a probe scores well on the rows it was fitted on")
    assert not torch.allclose(on_validation, on_test, atol=tol.LEAK_AUROC), (
        "validation_auroc was measured on the test rows: choosing λ on them makes the test score optimistic")
    assert torch.allclose(on_validation, expected["validation_auroc"], atol=tol.PROBE_AUROC), (
        f"validation AUROC per λ {L2S}: expected {[round(a, 3) for a in expected['validation_auroc'].tolist()]}, got "
        f"{[round(a, 3) for a in on_validation.tolist()]} (fit each λ on the standardised train rows, score the validation rows)")
    l2 = number(got["l2"], "l2")
    assert l2 == expected["l2"], (
        f"the chosen λ should be {expected['l2']:g}, the one with the highest validation AUROC (ties: the larger λ); got {l2:g}")
    accuracy, area = number(got["test_accuracy"], "test_accuracy"), number(got["test_auroc"], "test_auroc")
    w, b = tensor(got["w"], "w"), tensor(got["b"], "b").reshape(())
    z = (x - expected["mean"]) / expected["std"]
    fitted_on = split == 0
    on_train_rows = ((z[fitted_on] @ w + b > 0).float() == labels[fitted_on]).float().mean().item()
    assert abs(accuracy - on_train_rows) > tol.COUNTED or abs(accuracy - expected["test_accuracy"]) < tol.COUNTED, (
        f"test_accuracy {accuracy:.3f} is the accuracy on the train rows: evaluate on the test rows (split == 2)")
    assert (abs(accuracy - expected["test_accuracy"]) < tol.PROBE_ACCURACY
            and abs(area - expected["test_auroc"]) < tol.PROBE_AUROC), (
        f"on the test rows: expected accuracy {expected['test_accuracy']:.4f} and AUROC {expected['test_auroc']:.4f}, got "
        f"{accuracy:.4f} and {area:.4f} (a row is positive when its score x·w + b > 0)")
    assert _relative_error(w, expected["w"]) < tol.PROBE_W_RTOL, (
        "w (in standardised coordinates) differs from the probe fitted with the chosen λ")


@graded(points=1)
def test_raw_probe(sub, ref):
    g = torch.Generator().manual_seed(55)
    d = 12
    probe = {"w": torch.randn(d, generator=g), "b": torch.tensor(0.3), "mean": torch.randn(d, generator=g) * 3,
             "std": torch.rand(d, generator=g) * 2 + 0.5, "l2": 0.1}
    x = torch.randn(20, d, generator=g) * probe["std"] + probe["mean"]
    result = sub.raw_probe(probe)
    assert isinstance(result, tuple) and len(result) == 2, "raw_probe returns (w_raw, b_raw)"
    w_raw, b_raw = tensor(result[0], "w_raw"), tensor(result[1], "b_raw").reshape(())
    want = (x - probe["mean"]) / probe["std"] @ probe["w"] + probe["b"]
    got = x @ w_raw + b_raw
    mistakes = {
        "w_raw is w / std: a unit of the raw activation is 1 / std units of the standardised one": x @ probe["w"] + b_raw,
        "b_raw must absorb the mean: b_raw = b - mean · w_raw": x @ w_raw + probe["b"],
    }
    assert close(got, want), diagnose(got, want, "x · w_raw + b_raw against the standardised probe's scores", mistakes)


# --------------------------------------------------------------------------------------------------
# 3. Decomposing a direction


@graded(points=2)
def test_decoder_cosines(sub, ref):
    g = torch.Generator().manual_seed(56)
    W_dec = torch.randn(12, 8, generator=g) * torch.logspace(-0.7, 0.7, 12)[:, None]  # row norms 0.5-14
    direction = 7 * F.normalize(torch.randn(8, generator=g), dim=0)
    got = tensor(sub.decoder_cosines(direction, W_dec), "decoder_cosines")
    expected = ref.decoder_cosines(direction, W_dec)
    mistakes = {
        "the decoder rows are not unit vectors here: normalise each row of W_dec": W_dec @ F.normalize(direction, dim=0),
        "the direction is not a unit vector: normalise it too": F.normalize(W_dec, dim=-1) @ direction,
        "those are dot products: a cosine divides by both norms": W_dec @ direction,
    }
    assert close(got, expected), diagnose(got, expected, "the cosines", mistakes)


def _planted() -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder rows 2 e1, (e1 + e2) / (2 sqrt 2), e3, (e4 + e5) / sqrt 2 in 6 dimensions, and
    v = 3 e1 + 4 e2 + 12 e3 (norm 13): the top 1, 2, 3, 4 span 3/13, 5/13, 13/13, 13/13 of v."""
    e = torch.eye(6)
    W_dec = torch.stack([2 * e[0], (e[0] + e[1]) / (2 * math.sqrt(2)), e[2], (e[3] + e[4]) / math.sqrt(2)])
    return W_dec, 3 * e[0] + 4 * e[1] + 12 * e[2]


@graded(points=3)
def test_span_fractions(sub, ref):
    W_dec, v = _planted()
    got = tensor(sub.span_fractions(v, W_dec, torch.arange(4), [1, 2, 3, 4]), "span_fractions")
    want = torch.tensor([3 / 13, 5 / 13, 1.0, 1.0])
    cosines = F.normalize(W_dec, dim=-1) @ v / 13
    mistakes = {
        "the sum of squared cosines is the squared projection only for orthogonal directions: solve least squares":
            cosines.square().cumsum(0).sqrt(),
        "that is the squared fraction ||P v||² / ||v||²: take the ratio of norms": want.square(),
    }
    assert close(got, want), diagnose(got, want, "v = 3 e1 + 4 e2 + 12 e3 against the planted decoder rows", mistakes)
    g = torch.Generator().manual_seed(57)
    W_dec, v = torch.randn(50, 16, generator=g), torch.randn(16, generator=g)
    order = torch.randperm(50, generator=g)
    ks = [1, 2, 4, 8, 16]
    got = tensor(sub.span_fractions(v, W_dec, order, ks), "span_fractions")
    expected = ref.span_fractions(v, W_dec, order, ks)
    assert close(got, expected), diagnose(got, expected, "50 random decoder rows in 16 dimensions", {})
    assert abs(got[-1] - 1) < tol.FLOAT_IDENTITY, (
        "16 random directions span all 16 dimensions: the fraction at k = 16 is 1")


@graded(points=2, visible=False)
def test_span_fractions_with_parallel_directions(sub, ref):
    W_dec, v = _planted()
    W_dec = torch.stack([W_dec[0], -3 * W_dec[0], W_dec[2], W_dec[1]])  # rows 0 and 1 parallel
    got = tensor(sub.span_fractions(v, W_dec, torch.arange(4), [1, 2, 3, 4]), "span_fractions")
    want = torch.tensor([3 / 13, 3 / 13, math.sqrt(9 + 144) / 13, 1.0])
    assert torch.isfinite(got).all(), (
        f"two parallel decoder directions gave {got.tolist()}: the normal equations (AᵀA)⁻¹ are singular; use "
        "torch.linalg.lstsq or the pseudo-inverse")
    assert close(got, want), (
        f"with rows 0 and 1 parallel the top 2 span no more than the top 1: expected {[round(f, 4) for f in want.tolist()]}, "
        f"got {[round(f, 4) for f in got.tolist()]} (an orthonormal basis from a plain QR of a rank-deficient matrix "
        "contains a spurious direction)")


# --------------------------------------------------------------------------------------------------
# 4. Sparse probing


def _constructed_codes() -> tuple[torch.Tensor, torch.Tensor]:
    """Six latents over 4 positive and 6 negative rows, their class means (positive, negative):
    0: (1, 0); 1: (0, 1.5), firing on negatives; 2: (2, 1.2), large on both; 3: (0.5, 0.5);
    4: (1, 0) like latent 0; 5: (0.1, 0), always on for positives but faint.
    By |difference of means|: 1, 0, 4, 2, 5, 3."""
    labels = torch.tensor([1, 0, 1, 0, 0, 1, 0, 0, 1, 0])
    pos, neg = labels == 1, labels == 0
    codes = torch.zeros(10, 6)
    codes[pos, 0] = torch.tensor([2.0, 0.0, 2.0, 0.0])
    codes[neg, 1] = torch.tensor([3.0, 0.0, 3.0, 0.0, 3.0, 0.0])
    codes[pos, 2], codes[neg, 2] = 2.0, 1.2
    codes[pos, 3], codes[neg, 3] = torch.tensor([0.5, 0.0, 1.0, 0.5]), torch.tensor([0.5, 1.0, 0.0, 0.5, 0.5, 0.5])
    codes[pos, 4] = torch.tensor([0.0, 4.0, 0.0, 0.0])
    codes[pos, 5] = 0.1
    return codes, labels


@graded(points=2)
def test_top_latents(sub, ref):
    codes, labels = _constructed_codes()
    got = tensor(sub.top_latents(codes, labels, 4), "top_latents").long().tolist()
    want = [1, 0, 4, 2]
    pos, neg = codes[labels == 1], codes[labels == 0]
    by = lambda score: torch.sort(score, descending=True, stable=True).indices[:4].tolist()  # noqa: E731
    mistakes = {
        "ranked by the signed difference: a latent that fires on negatives separates the classes too (use the absolute value)":
            by(pos.mean(0) - neg.mean(0)),
        "ranked by the positives' mean alone: that favours latents that are large everywhere": by(pos.mean(0)),
        "ranked by firing frequency: the stated criterion is the difference of mean activations":
            by(((pos > 0).float().mean(0) - (neg > 0).float().mean(0)).abs()),
    }
    hint = next((m for m, wrong in mistakes.items() if got == wrong), "")
    assert got == want, (f"latents by |mean over positives - mean over negatives|: expected {want}, got {got}"
                         + (f" ({hint})" if hint else " (ties: smaller index first; largest first)"))
    g = torch.Generator().manual_seed(58)
    codes = F.relu(torch.randn(200, 30, generator=g))
    labels = (torch.rand(200, generator=g) < 0.4).long()
    codes[labels == 1, 7] += 0.5
    got = tensor(sub.top_latents(codes, labels, 5), "top_latents").long()
    assert torch.equal(got, ref.top_latents(codes, labels, 5)), "200 random rows: the top 5 latents differ from the reference"


def _sparse_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """300 rows of 40 sparse latents; the label follows latents 3, 7 and 11 everywhere, and latent
    20 also tracks it on the test rows only (so choosing latents with the test rows shows)."""
    g = torch.Generator().manual_seed(59)
    codes = F.relu(torch.randn(300, 40, generator=g) - 0.5)
    split = torch.cat([torch.zeros(150), torch.ones(50), torch.full((100,), 2.0)]).long()
    score = codes[:, 3] + codes[:, 7] - codes[:, 11] + 0.3 * torch.randn(300, generator=g)
    labels = (score > score.median()).long()
    test = split == 2
    codes[test, 20] = 6.0 * labels[test] + F.relu(torch.randn(int(test.sum()), generator=g))
    return codes, labels, split


@recorded
def _curve_choosing_on_all_rows(ref, codes: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, ks: list[int],
                                l2s: list[float]) -> list[float]:
    return [ref.train_probe(codes[:, ref.top_latents(codes, labels, k)], labels, split, l2s)["test_accuracy"] for k in ks]


@graded(points=2)
def test_sparse_probing(sub, ref):
    codes, labels, split = _sparse_data()
    ks, l2s = [1, 2, 4], [1e-2, 1e-1, 1.0]
    got = sub.sparse_probing(codes, labels, split, ks, l2s)
    assert isinstance(got, dict) and {"test_accuracy", "test_auroc"} <= set(got), (
        "sparse_probing returns {'test_accuracy': ..., 'test_auroc': ...}")
    accuracy, area = tensor(got["test_accuracy"], "test_accuracy"), tensor(got["test_auroc"], "test_auroc")
    expected = ref.sparse_probing(codes, labels, split, ks, l2s)
    leaked = torch.tensor(_curve_choosing_on_all_rows(ref, codes, labels, split, ks, l2s))
    assert accuracy.shape == (len(ks),) and area.shape == (len(ks),), f"one accuracy and one AUROC per k: shape ({len(ks)},)"
    assert not torch.allclose(accuracy, leaked, atol=tol.COUNTED), (
        "the latents were chosen with the test rows (latent 20 tracks the label there only): choose them on the train rows")
    assert (torch.allclose(accuracy, expected["test_accuracy"], atol=tol.SPARSE_PROBE_ACCURACY)
            and torch.allclose(area, expected["test_auroc"], atol=tol.PROBE_AUROC)), (
        f"for k = {ks}: expected test accuracy {[round(a, 3) for a in expected['test_accuracy'].tolist()]} and AUROC "
        f"{[round(a, 3) for a in expected['test_auroc'].tolist()]}, got {[round(a, 3) for a in accuracy.tolist()]} and "
        f"{[round(a, 3) for a in area.tolist()]} (top_latents on the train rows, then train_probe on those columns)")


# --------------------------------------------------------------------------------------------------
# 5. Steering compared


def _gpt2() -> torch.nn.Module:
    return judge_gpt2(N_LAYER, D_MODEL, PEAKED)


def _student_gpt2(sub):
    return submission_gpt2(sub, N_LAYER, D_MODEL, PEAKED)


@recorded
def _steered_kl(ref, vector: torch.Tensor, tokens: torch.Tensor) -> float:
    return ref.steered_kl(_gpt2(), LAYER, vector, tokens)


@torch.no_grad()
def _log_probs(tokens: torch.Tensor, vector: torch.Tensor | None = None) -> torch.Tensor:
    if vector is None:
        return _gpt2()(input_ids=tokens).logits.log_softmax(-1)
    with patch_residual(_gpt2(), LAYER, lambda resid: resid + vector):
        return _gpt2()(input_ids=tokens).logits.log_softmax(-1)


@graded(points=2)
def test_steered_kl(sub, ref):
    vector = 3 * torch.randn(D_MODEL, generator=torch.Generator().manual_seed(60))
    tokens = random_tokens(61, 2, 6)
    student_model = _student_gpt2(sub)
    got = number(sub.steered_kl(student_model, LAYER, vector, tokens), "steered_kl")
    want = _steered_kl(ref, vector, tokens)
    p, q = _log_probs(tokens), _log_probs(tokens, vector)
    kl = (p.exp() * (p - q)).sum(-1)  # [batch, seq]
    mistakes = {
        "KL(Q || P): the clean distribution P weighs the log-ratio, KL(P || Q) = Σ P (log P - log Q)": (q.exp() * (q - p)).sum(-1).mean().item(),
        "only the last position: average over every position of every sequence": kl[:, -1].mean().item(),
        "that is in bits: use the natural logarithm (nats)": kl.mean().item() / math.log(2),
    }
    hint = next((f" ({m})" for m, wrong in mistakes.items()
                 if abs(got - wrong) < tol.KL_RTOL * abs(wrong) + tol.STEERED_KL_ATOL), "")
    assert abs(got - want) < tol.KL_RTOL * want + tol.STEERED_KL_ATOL, (
        f"expected a KL divergence of {want:.5f} nats, got {got:.5f}{hint}")
    assert not box_module(sub, "saecourse.hooks").registered_hooks(student_model), "a hook is left on the model after steered_kl"


@recorded
def _compare(ref, directions: torch.Tensor, norm: float, prompts: torch.Tensor, unrelated: torch.Tensor,
             probe_w: torch.Tensor, probe_b: float, n_new: int) -> dict:
    return ref.compare_steering(_gpt2(), LAYER, directions, norm, prompts, unrelated, probe_w, probe_b, n_new)


@torch.no_grad()
def _readings(continuations: torch.Tensor, prompts: torch.Tensor, vector: torch.Tensor, probe_w: torch.Tensor,
              probe_b: float) -> dict[str, float]:
    """What plausible mistakes measure on one direction's continuations (the judge's own model)."""
    start, text = prompts.shape[1], torch.cat([prompts, continuations], dim=1)
    with patch_residual(_gpt2(), LAYER, lambda resid: resid + vector):
        steered_read = residual_stream(_gpt2(), text, LAYER)
        steered_loss = next_token_losses(_gpt2(), text)
    clean_read = residual_stream(_gpt2(), text, LAYER)
    return {
        "the probe read the steered model's residual stream: read the continuation with the clean model (the hook off)":
            torch.sigmoid(steered_read[:, start:] @ probe_w + probe_b).mean().item(),
        "the probe also read the prompt: average over the continuation's tokens only":
            torch.sigmoid(clean_read @ probe_w + probe_b).mean().item(),
        "the mean of the probe's logits: average its probabilities σ(x · w + b)": (clean_read[:, start:] @ probe_w + probe_b).mean().item(),
        "the loss was measured on the steered model: fluency is the clean model's loss on the continuation":
            steered_loss[:, start - 1:].mean().item(),
        "the loss also covers the prompt: only the predictions of the continuation's tokens":
            next_token_losses(_gpt2(), text).mean().item(),
    }


@graded(points=4)
def test_compare_steering(sub, ref):
    g = torch.Generator().manual_seed(62)
    first = 1.3 * F.normalize(torch.randn(D_MODEL, generator=g), dim=0)
    directions = torch.stack([first, 4 * first, 0.2 * F.normalize(torch.randn(D_MODEL, generator=g), dim=0)])
    prompts, unrelated = random_tokens(63, 2, 4), random_tokens(64, 2, 6)
    probe_w, probe_b, norm, n_new = 0.5 * torch.randn(D_MODEL, generator=g), 0.1, 6.0, 5
    student_model = _student_gpt2(sub)
    got = sub.compare_steering(student_model, LAYER, directions, norm, prompts, unrelated, probe_w, probe_b, n_new)
    keys = ("concept", "loss", "kl", "continuations")
    assert isinstance(got, dict) and set(keys) <= set(got), f"compare_steering returns a dict with keys {keys}"
    expected = _compare(ref, directions, norm, prompts, unrelated, probe_w, probe_b, n_new)
    values = {key: tensor(got[key], key) for key in keys}
    continuations = values["continuations"].long()
    assert continuations.shape == expected["continuations"].shape, (
        f"continuations: [n_dir, batch, n_new] = {tuple(expected['continuations'].shape)}, got {tuple(continuations.shape)}")
    assert (torch.equal(continuations[0], continuations[1])
            and torch.allclose(values["kl"][0], values["kl"][1], rtol=tol.SAME_STEERING_RTOL)), (
        "directions 0 and 1 point the same way (norms 1.3 and 5.2): at equal added norm they must do exactly the same. "
        "Scale each direction to unit length, then by norm")
    assert torch.equal(continuations, expected["continuations"]), (
        "the steered greedy continuations differ from the reference: add norm · direction / ||direction|| after block "
        "layer at every position while greedy_continuation runs")
    for key in ("concept", "loss", "kl"):
        assert values[key].shape == (3,), f"{key}: one number per direction, shape (3,), got {tuple(values[key].shape)}"
    for j in range(3):
        for key in ("concept", "loss"):
            value, want = values[key][j].item(), expected[key][j].item()
            if abs(value - want) > tol.CONTINUATION_RTOL * abs(want) + tol.CONTINUATION_ATOL:
                vector = norm * F.normalize(directions[j], dim=0)
                mistakes = _readings(expected["continuations"][j], prompts, vector, probe_w, probe_b)
                hint = next((m for m, wrong in mistakes.items()
                             if abs(value - wrong) < tol.CONTINUATION_RTOL * abs(wrong) + tol.CONTINUATION_ATOL), None)
                raise AssertionError(f"direction {j}, {key}: expected {want:.5f}, got {value:.5f}" + (f" ({hint})" if hint else ""))
    assert torch.allclose(values["kl"], expected["kl"], rtol=tol.KL_RTOL, atol=tol.STEERED_KL_ATOL), (
        f"KL on the unrelated tokens: expected {expected['kl'].tolist()}, got {values['kl'].tolist()} (steered_kl with the "
        "scaled vector)")
    clean = sub.compare_steering(student_model, LAYER, directions[:1], 0.0, prompts, unrelated, probe_w, probe_b, n_new)
    assert torch.equal(tensor(clean["continuations"], "continuations").long()[0], greedy_continuation(_gpt2(), prompts, n_new)), (
        "with norm 0 the continuation must be the unsteered model's")
    assert not box_module(sub, "saecourse.hooks").registered_hooks(student_model), "a hook is left on the model after compare_steering"
