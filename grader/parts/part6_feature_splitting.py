"""Graded tests for Part 6, feature splitting.

Matching and families are checked exactly on constructed SAEs whose decoder directions are
planted: parents along basis vectors, children at known angles to them, firing patterns written
by hand so that each condition of a family (close directions, coverage of the parent, distinct
children) is what excludes one decoy. The λ for a target L0 is checked against exact power laws
(seeded, targets inside and beyond the two runs) and, on the notebook's own runs, against
``saes.calibrate_l1``. The TopK SAE's forward pass and
training step are compared with the reference on the same parameters; where a step differs, the
submission's own step is run again under conditions that isolate one part of it (no stale
gradients, no active clipping), which names the part that is wrong."""

from __future__ import annotations

import math
import random
from unittest import mock

import torch
import torch.nn.functional as F

from grader import tolerances as tol
from grader.checks import box_module, close, diagnose, number, randomised, same_shapes, state, tensor
from grader.framework import graded
from grader.replay import recorded
from saecourse import saes, training

def _boxed_sae(sub, tensors: dict[str, torch.Tensor], cfg: dict | None = None):
    return box_module(sub, "saecourse.training").sae_from_tensors(tensors, cfg)


# --------------------------------------------------------------------------------------------------
# 1. λ for a target L0


def _power_law_cases() -> list[tuple[list[tuple[float, float]], float, float]]:
    """Two runs on an exact power law L0 = C λ^a each (C 50-5000, a from -2 to -0.5, λ 0.5-30), seeded:
    (runs, target L0, the λ at which the law gives the target). The targets lie between the two runs'
    L0s and beyond them on both sides (extrapolation, as for the notebook's 16x SAE); the runs come in
    either order."""
    g = random.Random(66)
    cases = []
    for i in range(6):
        c, a = 10 ** g.uniform(1.7, 3.7), -g.uniform(0.5, 2.0)
        low = g.uniform(0.5, 10.0)
        l1s = [low, low * g.uniform(1.5, 3.0)]
        if i % 2:
            l1s.reverse()
        runs = [(l1, c * l1 ** a) for l1 in l1s]
        l0s = sorted(l0 for _, l0 in runs)
        target = [math.sqrt(l0s[0] * l0s[1]), l0s[0] * 0.6, l0s[1] * 1.7][i % 3]
        cases.append((runs, target, (target / c) ** (1 / a)))
    return cases


def _calibrate_l1(runs: list[tuple[float, float]], target_l0: float) -> float:
    """``saes.calibrate_l1``'s λ for these two runs: its two trainings stood in for by the runs' L0s."""
    l0_at = dict(runs)
    with mock.patch.object(saes, "cached_sae", lambda cfg, **_: cfg):
        found = saes.calibrate_l1(training.TrainConfig(), target_l0, lambda cfg: l0_at[cfg.l1_coeff], tuple(l0_at))
    return found["l1_coeff"]


def _l1_mistakes(runs: list[tuple[float, float]], target: float) -> dict[str, float]:
    (l1_a, l0_a), (l1_b, l0_b) = runs
    slope = math.log(l0_b / l0_a) / math.log(l1_b / l1_a)
    return {
        "a straight line through the runs in (λ, L0) itself: L0 is a power of λ, a line in log-log coordinates":
            l1_a + (target - l0_a) * (l1_b - l1_a) / (l0_b - l0_a),
        "log L0 linear in λ (not in log λ): take the logarithm of both": l1_a + math.log(target / l0_a) * (l1_b - l1_a) / math.log(l0_b / l0_a),
        "the slope's sign is flipped: L0 falls as λ grows, so a target below a run's L0 needs a larger λ":
            l1_a * math.exp(-math.log(target / l0_a) / slope),
        "the line is anchored at one run's λ with the other run's L0: start from the same run for both":
            l1_a * math.exp(math.log(target / l0_b) / slope),
        "the slope is inverted (d log λ / d log L0 used as d log L0 / d log λ)": l1_a * math.exp(math.log(target / l0_a) * slope),
    }


@graded(points=2)
def test_l1_for_l0(sub, ref):
    notebook = ([(5.0, 120.9), (9.0, 53.6)], 47.0)  # the notebook's calibration at 1152 latents
    cases = _power_law_cases() + [(*notebook, _calibrate_l1(*notebook))]
    for runs, target, want in cases:
        got = number(sub.l1_for_l0(runs, target), "l1_for_l0")
        if math.isclose(got, want, rel_tol=tol.RTOL):
            continue
        hint = next((f" ({m})" for m, wrong in _l1_mistakes(runs, target).items() if math.isclose(got, wrong, rel_tol=tol.RTOL)), "")
        source = ("what saes.calibrate_l1 finds from them" if runs == notebook[0] else
                  "the λ at which the power law through both runs gives the target")
        raise AssertionError(f"runs (λ, L0) {[(round(l1, 3), round(l0, 2)) for l1, l0 in runs]}, target L0 {target:.2f}: "
                             f"expected λ {want:.4f} ({source}), got {got:.4f}{hint}")


# --------------------------------------------------------------------------------------------------
# 2-3. Matching and families, on planted SAEs

D_PLANTED, N_TOKENS = 40, 600


def _at(parent: torch.Tensor, other: torch.Tensor, cos: float) -> torch.Tensor:
    """The unit vector at cosine ``cos`` to unit ``parent``, turned toward unit ``other`` (orthogonal to it)."""
    return cos * parent + math.sqrt(1 - cos ** 2) * other


def _planted() -> dict:
    """A narrow SAE of 7 latents (parents along e0-e6) and a wide one of 15, with decoder rows of
    norms between 0.3 and 4 (not unit) and encoders that are not the decoders' transposes.

    Narrow 0: a family, children 1 (cos 0.8) and 0 (cos 0.7), on parent tokens 0-59 and 60-99 of 0-99.
    Wide 2 sits at cos 0.5 to narrow 0: below the threshold 0.6, not a child.
    Narrow 1: children 3, 4 (cos 0.8) fire on 40 tokens each, none of them the parent's: no coverage.
    Narrow 2: children 5, 6 (cos 0.8) fire on 90 of the parent's 100 tokens, both the same 81: not distinct.
    Narrow 3: one child, 7 (cos 0.9), covering the parent: a family needs two.
    Narrow 4: children 8 (cos 0.72) and 9 (cos 0.7) fire on 60 of the parent's 100 tokens and nowhere else: coverage
    0.6 of the parent's tokens (but 1.0 of the children's).
    Narrow 5: children 10 (on 100 tokens) and 11 (on 20 of those): nested, covering the parent; the
    shared tokens are 1.0 of the rarer child (0.2 of the larger one, 0.2 of their union).
    Narrow 6: never fires; children 12 (cos 0.85) and 13 (cos 0.8) fire on distinct tokens.
    Wide 14: unrelated to every parent (a new feature)."""
    e = torch.eye(D_PLANTED)
    parents = e[:7]
    other = iter(e[7:])
    children = {0: (0, 0.7), 1: (0, 0.8), 2: (0, 0.5), 3: (1, 0.8), 4: (1, 0.8), 5: (2, 0.8), 6: (2, 0.8), 7: (3, 0.9),
                8: (4, 0.72), 9: (4, 0.7), 10: (5, 0.8), 11: (5, 0.8), 12: (6, 0.85), 13: (6, 0.8)}
    wide = torch.stack([_at(parents[p], next(other), cos) for p, cos in children.values()] + [next(other)])
    n_narrow, n_wide = len(parents), len(wide)
    fires_narrow = torch.zeros(N_TOKENS, n_narrow, dtype=torch.bool)
    fires_wide = torch.zeros(N_TOKENS, n_wide, dtype=torch.bool)
    spans = {0: [(0, 100, 0)], 1: [(100, 200, 1)], 2: [(200, 300, 2)], 3: [(300, 400, 3)], 4: [(400, 500, 4)],
             5: [(500, 600, 5)]}
    for p, ((lo, hi, _),) in spans.items():
        fires_narrow[lo:hi, p] = True
    for child, rows in {1: range(0, 60), 0: range(60, 100), 2: range(0, 600, 9), 3: range(0, 40), 4: range(40, 80),
                        5: range(200, 290), 6: range(209, 290), 7: range(300, 400), 8: range(400, 430),
                        9: range(430, 460), 10: range(500, 600), 11: range(500, 520), 12: range(0, 600, 4),
                        13: range(2, 600, 4), 14: range(0, 600, 7)}.items():
        fires_wide[list(rows), child] = True
    norms = lambda n, seed: torch.rand(n, 1, generator=torch.Generator().manual_seed(seed)) * 3.7 + 0.3  # noqa: E731

    def tensors(W_dec: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        W_dec = W_dec * norms(len(W_dec), seed)
        return {"W_dec": W_dec, "W_enc": torch.randn(D_PLANTED, len(W_dec), generator=g),
                "b_enc": torch.zeros(len(W_dec)), "b_dec": torch.zeros(D_PLANTED)}

    return {"narrow": tensors(parents, 64), "wide": tensors(wide, 65), "fires_narrow": fires_narrow, "fires_wide": fires_wide}


def _unit_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a / a.norm(dim=-1, keepdim=True)) @ (b / b.norm(dim=-1, keepdim=True)).T


@graded(points=2)
def test_decoder_matches(sub, ref):
    planted = _planted()
    narrow, wide = planted["narrow"], planted["wide"]
    result = sub.decoder_matches(_boxed_sae(sub, narrow), _boxed_sae(sub, wide), 3)
    assert isinstance(result, tuple) and len(result) == 2, "decoder_matches returns (cosines, indices)"
    cosines, indices = tensor(result[0], "cosines"), tensor(result[1], "indices").long()
    full = _unit_cosines(narrow["W_dec"], wide["W_dec"])  # [7, 15]
    want = full.topk(3, dim=-1)
    assert cosines.shape == (7, 3) and indices.shape == (7, 3), (
        f"one row per narrow latent, k columns: (7, 3), got {tuple(cosines.shape)} and {tuple(indices.shape)}")
    mistakes = {
        "those are the encoder columns' cosines: an encoder column is a detector, tuned against the other latents; "
        "match the decoder rows W_dec": _unit_cosines(narrow["W_enc"].T, wide["W_enc"].T).topk(3, dim=-1).values,
        "dot products of rows with norms 0.3-4: normalise both decoders' rows": (narrow["W_dec"] @ wide["W_dec"].T).topk(3, dim=-1).values,
    }
    assert close(cosines, want.values), diagnose(cosines, want.values, "the cosines of the 3 best matches, best first", mistakes)
    assert torch.equal(indices[0], torch.tensor([1, 0, 2])), (
        f"narrow latent 0's best wide matches are 1 (cos 0.8), 0 (cos 0.7) and 2 (cos 0.5); got {indices[0].tolist()}")
    assert indices.min() >= 0 and indices.max() < 15 and close(full.gather(1, indices), want.values), (
        "the indices do not point at wide latents with those cosines: indices[i, j] is the wide latent of cosines[i, j]")


@graded(points=1)
def test_new_features(sub, ref):
    planted = _planted()
    got = tensor(sub.new_features(_boxed_sae(sub, planted["narrow"]), _boxed_sae(sub, planted["wide"]), 0.6), "new_features")
    got = got.long().flatten().tolist()
    want = [2, 14]  # wide 2 at cos 0.5 to narrow 0, wide 14 orthogonal to everything
    full = _unit_cosines(planted["narrow"]["W_dec"], planted["wide"]["W_dec"])
    hint = (" (those are narrow latents without a wide match: take each wide latent's best cosine over the narrow ones)"
            if got == torch.nonzero(full.amax(1) < 0.6).squeeze(1).tolist() else
            " (the rows were not normalised)" if got == torch.nonzero(
                (planted["narrow"]["W_dec"] @ planted["wide"]["W_dec"].T).amax(0) < 0.6).squeeze(1).tolist() else "")
    assert got == want, f"wide latents whose best decoder cosine with any narrow latent is below 0.6: expected {want}, got {got}{hint}"


def _families(sub, planted: dict, **thresholds) -> list[tuple[int, list[int]]]:
    got = sub.split_families(_boxed_sae(sub, planted["narrow"]), _boxed_sae(sub, planted["wide"]), planted["fires_narrow"],
                             planted["fires_wide"], **thresholds)
    assert isinstance(got, list), "split_families returns a list of (parent, [children]) pairs"
    return [(int(parent), [int(c) for c in children]) for parent, children in got]


FAMILY_MISTAKES = {
    1: "parent 1 is a family only without the coverage check: its children fire on none of its tokens",
    2: "parent 2's children fire on the same tokens (near-copies, not a split): check that they are distinct",
    3: "parent 3 has a single close child: a family needs two or more",
    4: "parent 4's children cover 0.6 of its tokens, below the coverage 0.7: coverage is a fraction of the parent's "
       "firing tokens (not of the children's)",
    5: "parent 5's children are nested (child 11 fires only where child 10 does): the overlap is a fraction of the rarer "
       "child's tokens (not of the larger one's or of the union)",
}


@graded(points=3)
def test_split_families(sub, ref):
    planted = _planted()
    planted["fires_narrow"][:, 6] = planted["fires_wide"][:, 12] | planted["fires_wide"][:, 13]  # parent 6 fires: a family
    got = _families(sub, planted, cos_threshold=0.6, coverage=0.7, overlap=0.5)
    want = [(0, [1, 0]), (6, [12, 13])]
    parents = [p for p, _ in got]
    for parent, message in FAMILY_MISTAKES.items():
        assert parent not in parents, message
    if 0 in parents:
        children = dict(got)[0]
        assert 2 not in children, "wide latent 2 is at cosine 0.5 to parent 0, below the threshold 0.6: not a child"
        assert children == [1, 0], f"parent 0's children by cosine, largest first: [1 (0.8), 0 (0.7)], got {children}"
    assert got == want, f"expected the families {want}, got {got}"
    looser = _families(sub, planted, cos_threshold=0.6, coverage=0.55, overlap=0.5)
    assert looser == [(0, [1, 0]), (4, [8, 9]), (6, [12, 13])], (
        f"with coverage 0.55, parent 4's children (covering 0.6 of its tokens) make a family too: expected "
        f"[(0, [1, 0]), (4, [8, 9]), (6, [12, 13])], got {looser} (use the coverage argument)")
    strict = _families(sub, planted, cos_threshold=0.75, coverage=0.7, overlap=0.5)
    assert strict == [(6, [12, 13])], (
        f"with cos_threshold 0.75 parent 0 keeps one child (cos 0.8) and is no family: expected [(6, [12, 13])], got {strict}")


@graded(points=2, visible=False)
def test_split_families_with_a_silent_parent(sub, ref):
    got = _families(sub, _planted(), cos_threshold=0.6, coverage=0.7, overlap=0.5)
    assert 6 not in [p for p, _ in got], (
        "parent 6 never fires on these tokens, so its children cannot cover it (0 of 0 tokens: a coverage of 0/0 = nan "
        "compares False with everything, so 'covered < coverage' lets it through)")
    assert got == [(0, [1, 0])], f"expected the single family [(0, [1, 0])], got {got}"


# --------------------------------------------------------------------------------------------------
# 4. TopK


D_IN, D_SAE, K = 16, 48, 5


def _topk_params(ref) -> dict[str, torch.Tensor]:
    """The reference's seeded TopK SAE with random biases; eight latents strongly negative, so that
    rows whose k-th largest pre-activation is negative exist."""
    torch.manual_seed(1)
    params = randomised(ref.TopKSAE(D_IN, D_SAE, K).state_dict(), 0.5, prefix="b")
    return {**params, "b_enc": params["b_enc"] - 1.5}


def _student_topk(sub, params: dict[str, torch.Tensor], k: int = K):
    student = sub.TopKSAE(D_IN, D_SAE, k)
    same_shapes(state(student, "TopKSAE", {"W_enc", "W_dec", "b_enc", "b_dec"}), params, "TopKSAE")
    student.load_state_dict(params)
    return student


@recorded
def _reference_codes(ref, params: dict[str, torch.Tensor], x: torch.Tensor, k: int) -> torch.Tensor:
    sae = ref.TopKSAE(D_IN, D_SAE, k)
    sae.load_state_dict(params)
    with torch.no_grad():
        return sae.encode(x)


@graded(points=2)
def test_topk_encode(sub, ref):
    params = _topk_params(ref)
    torch.manual_seed(2)
    x = torch.randn(6, 7, D_IN) * 0.5
    student = _student_topk(sub, params)
    got = tensor(student.encode(x), "TopKSAE.encode")
    want = _reference_codes(ref, params, x, K)
    pre = torch.einsum("bsi,il->bsl", x - params["b_dec"], params["W_enc"]) + params["b_enc"]

    def kept(scores: torch.Tensor, values: torch.Tensor, dim: int = -1) -> torch.Tensor:
        return torch.zeros_like(values).scatter(dim, scores.topk(K, dim=dim).indices, values.gather(dim, scores.topk(K, dim=dim).indices))

    assert (want > 0).sum(-1).min() < K, "the planted case has rows with fewer than k positive pre-activations"
    mistakes = {
        "without the ReLU a row keeps negative codes when fewer than k pre-activations are positive": kept(pre, pre),
        "the k largest |pre-activations| are not the k largest pre-activations": F.relu(kept(pre.abs(), pre)),
        "top k over the batch dimension: keep the k largest of each row (dim=-1)": F.relu(kept(pre, pre, dim=0)),
    }
    assert close(got, want), diagnose(got, want, "the codes of 6 × 7 tokens", mistakes)
    wider = tensor(_student_topk(sub, params, k=12).encode(x), "TopKSAE.encode")
    assert close(wider, _reference_codes(ref, params, x, 12)), "with k = 12 the codes differ: use self.k, not a constant"


@recorded
def _reference_step(ref, params: dict[str, torch.Tensor], batches: list[torch.Tensor], lr: float,
                     max_grad_norm: float) -> dict:
    sae = ref.TopKSAE(D_IN, D_SAE, K)
    sae.load_state_dict(params)
    optimizer = torch.optim.SGD(sae.parameters(), lr=lr)
    losses = [ref.topk_step(sae, x, optimizer, max_grad_norm) for x in batches]
    return {"params": {k: v.detach().clone() for k, v in sae.state_dict().items()}, "losses": losses}


def _student_steps(sub, params: dict[str, torch.Tensor], batches: list[torch.Tensor], lr: float, max_grad_norm: float,
                   stale: bool = False) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The submission's ``topk_step`` on its own TopK SAE with SGD (so that every term of the step shows in
    the parameters), optionally with old gradients left on the parameters."""
    student = _student_topk(sub, params)
    if stale:
        box_module(sub, "gradebox.standins").set_grads(student, {"W_dec": torch.ones(D_SAE, D_IN), "b_dec": torch.ones(D_IN)})
    optimizer = box_module(sub, "torch.optim").SGD(student.parameters(), lr=lr)
    losses = [number(sub.topk_step(student, x, optimizer, max_grad_norm), "topk_step") for x in batches]
    return state(student, "TopKSAE"), losses


@graded(points=2)
def test_topk_step(sub, ref):
    params = _topk_params(ref)
    params = {**params, "b_enc": params["b_enc"] + 1.5}
    torch.manual_seed(3)
    batches = [torch.randn(32, D_IN) * 2 + 0.5 for _ in range(2)]
    unclipped = 1e9  # far above the gradient's norm (about 30 here)
    got, losses = _student_steps(sub, params, batches, 0.01, unclipped)
    want = _reference_step(ref, params, batches, 0.01, unclipped)
    norms = got["W_dec"].norm(dim=-1)
    assert torch.allclose(norms, torch.ones(D_SAE), atol=tol.ROW_NORM), (
        f"after each step every decoder row must have unit norm (renormalise in place, under torch.no_grad()); got norms "
        f"{norms.min():.3f}-{norms.max():.3f}")
    first = want["losses"][0]
    assert abs(losses[0] - first) < tol.RTOL * first, (
        f"the loss of the first batch: expected {first:.4f}, got {losses[0]:.4f}"
        + (" (averaged over d_in too: sum the squared error over d_in, average over the batch)"
           if abs(losses[0] * D_IN - first) < tol.RTOL * first else
           " (the loss is the squared reconstruction error alone, with no penalty on the codes)"))
    if not all(close(got[n], want["params"][n]) for n in want["params"]):
        once, _ = _student_steps(sub, params, batches[:1], 0.01, unclipped)
        assert not all(close(once[n], w) for n, w in _reference_step(ref, params, batches[:1], 0.01, unclipped)["params"].items()), (
            "one step matches the reference, two do not: the second step used the first step's gradient too; call "
            "optimizer.zero_grad() before backward")
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert close(got[name], want["params"][name]), diagnose(got[name], want["params"][name], f"{name} after two SGD steps", {}) + (
            " (the step: the loss, zero the old gradients, backward, clip, optimizer.step(), renormalise the decoder rows; "
            "the gradient of the loss alone, with no penalty on the codes)")
    clipped, _ = _student_steps(sub, params, batches, 0.01, 1.0)
    want = _reference_step(ref, params, batches, 0.01, 1.0)
    assert all(close(clipped[n], want["params"][n]) for n in want["params"]), (
        "with max_grad_norm = 1 the steps differ from the reference: clip the norm of all parameters' gradients together "
        "(nn.utils.clip_grad_norm_(sae.parameters(), max_grad_norm)) after backward and before optimizer.step()")
    stale, _ = _student_steps(sub, params, batches, 0.01, 1.0, stale=True)
    assert all(close(stale[n], want["params"][n]) for n in want["params"]), (
        "with old gradients left on the parameters the step changes: call optimizer.zero_grad() before backward")


@graded(points=2)
def test_shrinkage(sub, ref):
    b_dec = torch.tensor([10.0, -20.0, 5.0])
    target = torch.tensor([[3.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 2.0]])  # x - b_dec
    written = torch.stack([0.5 * target[0], 0.8 * target[1], torch.zeros(3)])  # x̂ - b_dec; no latent fires on token 2
    x, x_hat = target + b_dec, written + b_dec
    got = sub.shrinkage(x, x_hat, b_dec)
    assert isinstance(got, dict) and {"norm_ratio", "best_scale"} <= set(got), "shrinkage returns {'norm_ratio', 'best_scale'}"
    ratio, scale = number(got["norm_ratio"], "norm_ratio"), number(got["best_scale"], "best_scale")
    want_ratio, want_scale = (0.5 + 0.8) / 2, (0.5 * 9 + 0.8 * 16) / (0.25 * 9 + 0.64 * 16)
    ratio_mistakes = {
        "‖x̂‖ / ‖x‖ without b_dec: the residual stream's mean, held by b_dec, makes the ratio near 1 whatever the codes do":
            (x_hat.norm(dim=-1) / x.norm(dim=-1))[:2].mean().item(),
        "token 2 has no active latent (x̂ = b_dec): leave it out of the mean": (0.5 + 0.8) / 3,
        "‖x̂ - b_dec‖ / ‖x - b_dec‖ per token, then the mean (not a ratio of summed norms)": (1.5 + 3.2) / (3 + 4),
    }
    hint = next((f" ({m})" for m, wrong in ratio_mistakes.items() if abs(ratio - wrong) < tol.CLOSED_FORM_SUMS), "")
    assert abs(ratio - want_ratio) < tol.CLOSED_FORM_SUMS, (
        f"norm_ratio: tokens 0 and 1 are reconstructed at 0.5 and 0.8 of their length: expected {want_ratio:.4f}, "
        f"got {ratio:.4f}{hint}")
    scale_mistakes = {
        "that scale maps x - b_dec onto x̂ - b_dec (Σ ⟨x - b, x̂ - b⟩ / Σ ‖x - b‖²): s* scales what the codes write, "
        "Σ ⟨x - b, x̂ - b⟩ / Σ ‖x̂ - b‖²": (0.5 * 9 + 0.8 * 16) / (9 + 16 + 4),
        "the mean of per-token scales: s* is one least-squares scale over all tokens": (1 / 0.5 + 1 / 0.8) / 2,
        "measured without b_dec: scale what the codes write, x̂ - b_dec": ((x * x_hat).sum() / x_hat.square().sum()).item(),
    }
    hint = next((f" ({m})" for m, wrong in scale_mistakes.items() if abs(scale - wrong) < tol.CLOSED_FORM_SUMS), "")
    assert abs(scale - want_scale) < tol.CLOSED_FORM_SUMS, (
        f"best_scale: expected {want_scale:.5f} (= 17.3 / 12.49), got {scale:.5f}{hint}")
