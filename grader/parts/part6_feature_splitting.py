"""Graded tests for Part 6, feature splitting.

Matching and families are checked exactly on constructed SAEs whose decoder directions are
planted: parents along basis vectors, children at known angles to them, firing patterns written
by hand so that each condition of a family (close directions, coverage of the parent, distinct
children) is what excludes one decoy. The width table runs on the tiny GPT-2 of Parts 4-5 with
random SAEs, and is compared with Part 2's metrics computed here. The TopK SAE's forward pass and
training step are compared with the reference on the same parameters; where a step differs, the
submission's own step is run again under conditions that isolate one part of it (no stale
gradients, no active clipping), which names the part that is wrong."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from grader.checks import box_module, close, diagnose, number, randomised, same_shapes, state, tensor
from grader.framework import graded
from grader.replay import recorded
from saecourse import metrics
from saecourse.models import residual_stream, tiny_gpt2
from saecourse.saes import SAE

D_MODEL, N_LAYER, LAYER, SKIP = 64, 3, 1, 2  # the tiny GPT-2, the block read, the first positions left out


@functools.lru_cache(maxsize=1)
def _gpt2() -> torch.nn.Module:
    return tiny_gpt2(seed=0, n_layer=N_LAYER, n_embd=D_MODEL)[0]


def _tokens() -> torch.Tensor:
    return torch.randint(0, 50257, (3, 12), generator=torch.Generator().manual_seed(61))


def _boxed_sae(sub, tensors: dict[str, torch.Tensor], cfg: dict | None = None):
    return box_module(sub, "saecourse.saes").SAE(tensors, cfg)


# --------------------------------------------------------------------------------------------------
# 1. The width table


def _width_saes() -> list[tuple[dict[str, torch.Tensor], dict]]:
    """Two random SAEs for the tiny GPT-2 (32 and 96 latents), with the λ a trained one records."""
    g = torch.Generator().manual_seed(62)
    saes = []
    for d_sae, l1 in ((32, 3.0), (96, 5.0)):
        tensors = {"W_enc": torch.randn(D_MODEL, d_sae, generator=g) / 8, "b_enc": torch.randn(d_sae, generator=g) * 0.2 - 0.3,
                   "W_dec": F.normalize(torch.randn(d_sae, D_MODEL, generator=g), dim=-1) * 2,
                   "b_dec": torch.randn(D_MODEL, generator=g) * 0.1}
        saes.append((tensors, {"metadata": {"train_config": {"l1_coeff": l1}}}))
    return saes


def _held_out_acts() -> torch.Tensor:
    """The tiny GPT-2's residual stream after LAYER on other tokens than the CE tokens: [n, D_MODEL]."""
    tokens = torch.randint(0, 50257, (4, 16), generator=torch.Generator().manual_seed(63))
    with torch.no_grad():
        return residual_stream(_gpt2(), tokens, LAYER)[:, SKIP:].reshape(-1, D_MODEL)


@recorded
def _reference_table(ref, saes: list, band: tuple[float, float]) -> dict:
    built = {tensors["W_dec"].shape[0]: SAE(tensors, cfg) for tensors, cfg in saes}
    return ref.width_table(built, _held_out_acts(), _gpt2(), _tokens(), LAYER, SKIP, band)


@graded(points=2)
def test_width_table(sub, ref):
    saes, acts = _width_saes(), _held_out_acts()
    with torch.no_grad():
        l0s = {t["W_dec"].shape[0]: metrics.l0(SAE(t).encode(acts)) for t, _ in saes}
    band = (l0s[32], l0s[32] + 1.0)  # the 32-latent SAE sits exactly on the lower bound, the 96-latent one outside
    assert not band[0] <= l0s[96] <= band[1]
    for _, cfg in saes:  # the last training L0 both record is inside the band: only the held-out L0 decides
        cfg["metadata"]["final_l0"] = band[0] + 0.5
    student_model = box_module(sub, "saecourse.models").tiny_gpt2(seed=0, n_layer=N_LAYER, n_embd=D_MODEL)[0]
    got = sub.width_table({t["W_dec"].shape[0]: _boxed_sae(sub, t, cfg) for t, cfg in saes}, acts, student_model, _tokens(),
                          LAYER, SKIP, band)
    expected = _reference_table(ref, saes, band)
    assert isinstance(got, dict) and set(got) == set(expected), f"width_table returns one row per width, keyed {sorted(expected)}"
    for d_sae, want in expected.items():
        row = got[d_sae]
        assert isinstance(row, dict) and set(want) <= set(row), f"each row holds {sorted(want)}"
        l1 = number(row["l1_coeff"], "l1_coeff")
        assert l1 == want["l1_coeff"], f"{d_sae} latents: λ is sae.cfg['metadata']['train_config']['l1_coeff'] = {want['l1_coeff']}, got {l1}"
        for key in ("l0", "explained_variance", "dead_fraction", "dense_fraction"):
            value = number(row[key], key)
            assert abs(value - want[key]) < 1e-5, (
                f"{d_sae} latents, {key}: expected {want[key]:.5f}, got {value:.5f} (Part 2's metrics on the held-out acts: "
                "saecourse.metrics.evaluate)")
        value = number(row["ce_recovered"], "ce_recovered")
        if abs(value - want["ce_recovered"]) > 1e-4:
            with torch.no_grad():
                all_positions = metrics.ce_loss_recovered(_gpt2(), SAE(*saes[0 if d_sae == 32 else 1]), _tokens(), LAYER, 0)
            hint = (f" (the first {SKIP} positions were not left out: pass skip_first)"
                    if abs(value - all_positions["recovered"]) < 1e-4 else "")
            raise AssertionError(f"{d_sae} latents, CE loss recovered: expected {want['ce_recovered']:.5f}, got {value:.5f}{hint}")
        in_band = row["in_band"]
        if bool(in_band) != want["in_band"]:
            final = saes[0 if d_sae == 32 else 1][1]["metadata"]["final_l0"]
            lower, upper = band
            if bool(in_band) == (lower <= final <= upper):
                raise AssertionError(f"{d_sae} latents: in_band was decided on the training log's final L0 ({final:g}); "
                                     f"use the held-out L0 ({want['l0']:.3f})")
            raise AssertionError(f"{d_sae} latents: held-out L0 {want['l0']:.4f} against the band ({lower:.4f}, {upper:.4f}) "
                                 f"is {'inside' if want['in_band'] else 'outside'} (the bounds are included)")


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
    assert torch.allclose(norms, torch.ones(D_SAE), atol=1e-5), (
        f"after each step every decoder row must have unit norm (renormalise in place, under torch.no_grad()); got norms "
        f"{norms.min():.3f}-{norms.max():.3f}")
    first = want["losses"][0]
    assert abs(losses[0] - first) < 1e-4 * first, (
        f"the loss of the first batch: expected {first:.4f}, got {losses[0]:.4f}"
        + (" (averaged over d_in too: sum the squared error over d_in, average over the batch)"
           if abs(losses[0] * D_IN - first) < 1e-4 * first else
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
    hint = next((f" ({m})" for m, wrong in ratio_mistakes.items() if abs(ratio - wrong) < 1e-5), "")
    assert abs(ratio - want_ratio) < 1e-5, f"norm_ratio: tokens 0 and 1 are reconstructed at 0.5 and 0.8 of their length: expected {want_ratio:.4f}, got {ratio:.4f}{hint}"
    scale_mistakes = {
        "that scale maps x - b_dec onto x̂ - b_dec (Σ ⟨x - b, x̂ - b⟩ / Σ ‖x - b‖²): s* scales what the codes write, "
        "Σ ⟨x - b, x̂ - b⟩ / Σ ‖x̂ - b‖²": (0.5 * 9 + 0.8 * 16) / (9 + 16 + 4),
        "the mean of per-token scales: s* is one least-squares scale over all tokens": (1 / 0.5 + 1 / 0.8) / 2,
        "measured without b_dec: scale what the codes write, x̂ - b_dec": ((x * x_hat).sum() / x_hat.square().sum()).item(),
    }
    hint = next((f" ({m})" for m, wrong in scale_mistakes.items() if abs(scale - wrong) < 1e-5), "")
    assert abs(scale - want_scale) < 1e-5, f"best_scale: expected {want_scale:.5f} (= 17.3 / 12.49), got {scale:.5f}{hint}"
