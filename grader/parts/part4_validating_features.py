"""Graded tests for Part 4, validating features.

Interventions are checked on small random models built from a seed in both processes (the tiny
GPT-2 of Part 2, and a tiny Llama for the architecture SmolLM2 has) with SAEs made from known
tensors (``saecourse.training.sae_from_tensors``). Where a physical fact decides (a steered residual stream differs
from the clean one by exactly the vector, and only at the chosen positions; clamping a latent to
its own value changes nothing; components add up to the residual stream), the test checks the
fact; elsewhere it compares with the reference on the same inputs. The submission's context
managers run inside its own process (``gradebox.standins.inside``), and the judge reads back what
the model computed."""

from __future__ import annotations

import math

import torch

from grader import tolerances as tol
from grader.checks import box_module, close, diagnose, judge_gpt2, number, random_tokens, submission_gpt2, tensor
from grader.framework import graded
from grader.replay import recorded
from saecourse.hooks import patch_residual
from saecourse.models import residual_stream, tiny_llama
from saecourse.training import sae_from_tensors

D_MODEL, N_LAYER, LAYER = 64, 3, 1  # the tiny GPT-2, and the block whose output is edited


def _gpt2(init_std: float = 0.02) -> torch.nn.Module:
    return judge_gpt2(N_LAYER, D_MODEL, init_std)


def _models(sub, init_std: float = 0.02):
    """The same tiny GPT-2 here and in the submission's process (``init_std`` 0.3: peaked next-token
    distributions, where KL(P || Q) and KL(Q || P) differ)."""
    return _gpt2(init_std), submission_gpt2(sub, N_LAYER, D_MODEL, init_std)


def _sae_tensors(seed: int, d_sae: int = 16) -> dict[str, torch.Tensor]:
    """A random SAE for the tiny GPT-2: decoder rows of norm about 3 (not unit), an encoder that is
    not the decoder's transpose, so that using the wrong matrix or forgetting to normalise shows."""
    g = torch.Generator().manual_seed(seed)
    return {"W_enc": torch.randn(D_MODEL, d_sae, generator=g) * 0.5, "b_enc": torch.randn(d_sae, generator=g) * 0.1,
            "W_dec": torch.randn(d_sae, D_MODEL, generator=g) * 0.4, "b_dec": torch.randn(D_MODEL, generator=g) * 0.1}


def _saes(sub, tensors: dict[str, torch.Tensor]):
    return sae_from_tensors(tensors), box_module(sub, "saecourse.training").sae_from_tensors(tensors)


def _inside(sub, context, model, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual stream after LAYER and the logits, computed in the submission's process while a
    context manager ``context()`` makes there is entered (once each: such objects are single-use)."""
    standins, models = box_module(sub, "gradebox.standins"), box_module(sub, "saecourse.models")
    resid = tensor(standins.inside(context(), models.residual_stream, model, tokens, LAYER), "the residual stream")
    logits = tensor(standins.inside(context(), standins.logits, model, tokens), "the logits")
    return resid, logits


def _hooks_left(sub, model) -> dict:
    return box_module(sub, "saecourse.hooks").registered_hooks(model)


# --------------------------------------------------------------------------------------------------
# 2. Monosemanticity and consistency


def _constructed_feature() -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and activations whose measures are known by hand: activation mass 2 on id 5 (one
    token), 2 on id 7 (one token), 1 on id 9 (three tokens), 0 on id 11; ids 5 and 7 also occur
    without firing. Counting firing tokens instead of mass gives other numbers (1, 1, 3 of 5)."""
    ids = torch.tensor([5, 7, 9, 9, 9, 11, 11, 5, 7])
    acts = torch.tensor([2.0, 2.0, 0.5, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0])
    return ids, acts


@graded(points=3)
def test_monosemanticity(sub, ref):
    ids, acts = _constructed_feature()
    got = sub.monosemanticity(ids, acts, {5: 1.0, 9: 1.0})
    assert isinstance(got, dict), "monosemanticity returns a dict with keys mass_share, entropy, effective_tokens"
    values = {k: number(got.get(k), f"monosemanticity()[{k!r}]") for k in ("mass_share", "entropy", "effective_tokens")}
    entropy = -(0.4 * math.log2(0.4) * 2 + 0.2 * math.log2(0.2))  # p = (0.4, 0.4, 0.2) over ids 5, 7, 9
    assert abs(values["mass_share"] - 0.6) < tol.CLOSED_FORM_SUMS, (
        f"ids 5 and 9 carry 2 + 1 of the total mass 5, so the mass share is 0.6; got {values['mass_share']:.4f}"
        + (" (that is the share of firing tokens, not of activation mass)"
           if abs(values["mass_share"] - 0.8) < tol.CLOSED_FORM_SUMS else ""))
    hint = ""
    if abs(values["entropy"] - entropy * math.log(2)) < tol.CLOSED_FORM_STATISTIC:
        hint = " (that is in nats: use log2 for bits)"
    elif abs(values["entropy"] - (-(0.2 * math.log2(0.2) * 2 + 0.6 * math.log2(0.6)))) < tol.CLOSED_FORM_STATISTIC:
        hint = " (that counts firing tokens (1, 1, 3 of 5), not activation mass per token id)"
    assert abs(values["entropy"] - entropy) < tol.CLOSED_FORM_STATISTIC, (
        f"the activation mass per token id is (2, 2, 1) of 5, so the entropy is {entropy:.4f} bits; got {values['entropy']:.4f}{hint}")
    assert abs(values["effective_tokens"] - 2 ** entropy) < tol.EFFECTIVE_TOKENS, (
        f"effective_tokens = 2 ** entropy = {2 ** entropy:.4f}")
    silent = {k: number(v, f"monosemanticity()[{k!r}]") for k, v in sub.monosemanticity(ids, torch.zeros(9), {5: 1.0}).items()}
    assert silent == {"mass_share": 0.0, "entropy": 0.0, "effective_tokens": 1.0}, (
        f"a latent that never fires: mass share 0, entropy 0, 1 effective token (no NaN); got {silent}")
    g = torch.Generator().manual_seed(21)
    ids, acts = torch.randint(0, 40, (500,), generator=g), torch.relu(torch.randn(500, generator=g))
    explanation = {3: 1.0, 17: 1.0, 30: 1.0}
    expected, got = ref.monosemanticity(ids, acts, explanation), sub.monosemanticity(ids, acts, explanation)
    for key, want in expected.items():
        value = number(got[key], f"monosemanticity()[{key!r}]")
        assert abs(value - want) < tol.ATOL, f"{key} on 500 random tokens: expected {want:.5f}, got {value:.5f}"


@graded(points=2)
def test_consistency(sub, ref):
    ids = torch.tensor([1, 1, 2, 2, 3, 3, 4, 1])
    acts = torch.tensor([0.9, 0.0, 0.5, 0.05, 0.0, 0.0, 0.3, 0.2])
    got = sub.consistency(ids, acts, {1: 1.0, 3: 1.0})
    assert isinstance(got, dict), "consistency returns a dict with keys precision, recall, f1"
    values = {k: number(got.get(k), f"consistency()[{k!r}]") for k in ("precision", "recall", "f1")}
    # predicted: ids 1, 3 (5 tokens), firing: 5 tokens, both: 2 (the two firing 1s)
    assert abs(values["precision"] - 0.4) < tol.CLOSED_FORM and abs(values["recall"] - 0.4) < tol.CLOSED_FORM, (
        f"5 tokens should fire (ids 1 and 3) and 5 fire, 2 of them both: precision 0.4, recall 0.4; got {values}")
    got = {k: number(v, f"consistency()[{k!r}]") for k, v in sub.consistency(ids, acts, {1: 1.0, 4: 1.0}, 0.25).items()}
    # above 0.25: rows 0, 2, 6 fire; predicted: ids 1 and 4 (4 tokens); both: rows 0 and 6
    assert abs(got["precision"] - 0.5) < tol.CLOSED_FORM and abs(got["recall"] - 2 / 3) < tol.CLOSED_FORM, (
        f"with threshold 0.25, 3 tokens fire (activation > threshold), 4 should, 2 both: precision 0.5, recall 2/3; got {got}"
        + (" (precision and recall are swapped)" if abs(got.get("precision", 0) - 2 / 3) < tol.CLOSED_FORM else ""))
    assert abs(got["f1"] - 4 / 7) < tol.CLOSED_FORM, f"f1 is the harmonic mean 2pr / (p + r) = 4/7; got {got['f1']}"
    empty = {k: number(v, f"consistency()[{k!r}]") for k, v in sub.consistency(ids, torch.zeros(8), {9: 1.0}).items()}
    assert empty == {"precision": 0.0, "recall": 0.0, "f1": 0.0}, (
        f"nothing predicted and nothing firing: every measure is 0, not NaN; got {empty}")


def _domain_example() -> tuple[torch.Tensor, torch.Tensor]:
    """Ten tokens in three domains (3, 4 and 3 tokens). At threshold 0 the latent fires on 1, 3 and 1
    of them, so domain 1 holds most firing tokens, while domain 0 holds most activation mass (5.0 of
    5.72): choosing the domain by mass gives other numbers."""
    domains = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    acts = torch.tensor([5.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.0, 0.12, 0.0, 0.0])
    return domains, acts


def _domain_measures(got, what: str) -> dict[str, float]:
    assert isinstance(got, dict), "domain_consistency returns a dict with keys domain, precision, recall, chance"
    return {k: number(got.get(k), f"{what}[{k!r}]") for k in ("domain", "precision", "recall", "chance")}


@graded(points=2)
def test_domain_consistency(sub, ref):
    domains, acts = _domain_example()
    got = _domain_measures(sub.domain_consistency(domains, acts), "domain_consistency()")
    assert got["domain"] == 1, (
        f"the latent fires on 1, 3 and 1 tokens of domains 0, 1, 2: the domain is 1, got {got['domain']}"
        + (" (that is the domain with the most activation mass; count firing tokens)" if got["domain"] == 0 else ""))
    # domain 1: 4 tokens, 3 firing; 5 tokens fire in all
    assert abs(got["precision"] - 3 / 4) < tol.CLOSED_FORM and abs(got["recall"] - 3 / 5) < tol.CLOSED_FORM, (
        f"domain 1 has 4 tokens, the latent fires on 3 of them and on 5 tokens in all: precision 3/4, recall 3/5; got {got}"
        + (" (precision and recall are swapped)" if abs(got["precision"] - 3 / 5) < tol.CLOSED_FORM else ""))
    assert abs(got["chance"] - 0.4) < tol.CLOSED_FORM, (
        f"chance is the domain's share of all tokens, 4 of 10; got {got['chance']}"
        + (" (not one over the number of domains)" if abs(got["chance"] - 1 / 3) < tol.CLOSED_FORM else ""))
    got = _domain_measures(sub.domain_consistency(domains, acts, 0.15), "domain_consistency(threshold=0.15)")
    assert (got["domain"] == 1 and abs(got["precision"] - 2 / 4) < tol.CLOSED_FORM
            and abs(got["recall"] - 2 / 3) < tol.CLOSED_FORM), (
        f"with threshold 0.15 the latent fires on 3 tokens (activation > threshold), 2 of them in domain 1's 4: "
        f"domain 1, precision 1/2, recall 2/3; got {got}")
    tie = _domain_measures(sub.domain_consistency(domains, torch.tensor([1.0, 0, 0, 1.0, 0, 0, 0, 0, 0, 0])), "domain_consistency()")
    assert tie["domain"] == 0, f"one firing token in domain 0 and one in domain 1: the smallest id, 0, on a tie; got {tie['domain']}"
    silent = _domain_measures(sub.domain_consistency(domains, torch.zeros(10)), "domain_consistency()")
    assert silent == {"domain": -1, "precision": 0.0, "recall": 0.0, "chance": 0.0}, (
        f"a latent that never fires: domain -1 and every measure 0 (no NaN); got {silent}")
    g = torch.Generator().manual_seed(23)
    domains, acts = torch.randint(0, 3, (600,), generator=g), torch.relu(torch.randn(600, generator=g) - 0.5)
    for threshold in (0.0, 0.4):
        expected = ref.domain_consistency(domains, acts, threshold)
        got = _domain_measures(sub.domain_consistency(domains, acts, threshold), f"domain_consistency(threshold={threshold})")
        for key, want in expected.items():
            assert abs(got[key] - want) < tol.COUNTED, (
                f"{key} on 600 random tokens (threshold {threshold}): expected {want:.5f}, got {got[key]:.5f}")


# --------------------------------------------------------------------------------------------------
# 3. Steering


@graded(points=3)
def test_steering_hook(sub, ref):
    model, student_model = _models(sub)
    tokens = random_tokens(31, 2, 10)
    vector = torch.randn(D_MODEL, generator=torch.Generator().manual_seed(32))
    clean = residual_stream(model, tokens, LAYER)
    for positions in ([2, 5], None):
        resid, logits = _inside(sub, lambda: sub.steering_hook(student_model, LAYER, vector, positions), student_model, tokens)
        change = resid - clean
        where = torch.zeros(10, dtype=torch.bool)
        where[positions if positions is not None else slice(None)] = True
        assert change.shape == clean.shape, f"the residual stream changed shape to {tuple(change.shape)}"
        elsewhere = lambda: sorted(  # noqa: E731
            set(torch.nonzero(change.abs().amax(-1) > tol.SAME_MODEL)[:, 1].tolist())
            - set(where.nonzero().flatten().tolist()))
        assert torch.allclose(change[:, ~where], torch.zeros(()), atol=tol.SAME_MODEL), (
            f"positions {positions}: the residual stream also changed at other positions {elsewhere()}: "
            "add the vector only at the given positions")
        assert torch.allclose(change[:, where], vector.expand_as(change[:, where]), atol=tol.SAME_MODEL), (
            f"positions {positions}: the residual stream after block {LAYER} must change by exactly the vector there; "
            f"the change has norm {change[:, where].norm(dim=-1).mean():.4f}, the vector {vector.norm():.4f}")
        expected = _steered_logits(ref, tokens, vector, positions)
        assert close(logits, expected), diagnose(logits, expected, "the logits with the hook in place", {})
    assert not (left := _hooks_left(sub, student_model)), f"hooks left registered after the with block: {left}"
    after = tensor(box_module(sub, "gradebox.standins").logits(student_model, tokens), "the logits")
    assert close(after, model(input_ids=tokens).logits), "after the with block the model's output is still changed"


@recorded
def _steered_logits(ref, tokens: torch.Tensor, vector: torch.Tensor, positions: list[int] | None) -> torch.Tensor:
    """The tiny GPT-2's logits with the reference's hook in place."""
    with ref.steering_hook(_gpt2(), LAYER, vector, positions), torch.no_grad():
        return _gpt2()(input_ids=tokens).logits


@graded(points=2)
def test_steering_hook_removed_after_error(sub, ref):
    model, student_model = _models(sub)
    tokens = random_tokens(33, 2, 8)
    vector = torch.randn(D_MODEL, generator=torch.Generator().manual_seed(34))
    outcome = box_module(sub, "gradebox.standins").raise_inside(sub.steering_hook(student_model, LAYER, vector, [1, 3]))
    left = _hooks_left(sub, student_model)
    assert not left, (
        f"an exception inside the with block left hooks registered ({left}): every later forward pass is now steered. "
        "Remove the hook in a finally block (try: yield / finally: handle.remove())")
    assert outcome == "propagated", "the exception raised inside the with block disappeared: let it propagate"
    after = tensor(box_module(sub, "gradebox.standins").logits(student_model, tokens), "the logits")
    assert close(after, model(input_ids=tokens).logits), "after the failed with block the model's output is changed"


@recorded
def _steering_effect(ref, tensors: dict[str, torch.Tensor], feature: int, tokens: torch.Tensor, alphas: list[float]) -> dict:
    return ref.steering_effect(_gpt2(PEAKED), sae_from_tensors(tensors), feature, tokens, LAYER, alphas, k=4)


PEAKED = 0.3  # the tiny GPT-2's init_std for steering_effect: steered distributions differ by a KL of 0.01-1


@graded(points=3)
def test_steering_effect(sub, ref):
    tensors = _sae_tensors(35)
    _, student_model = _models(sub, PEAKED)
    tokens, alphas, feature = random_tokens(36, 3, 7), [2.0, 10.0, 40.0], 5
    got = sub.steering_effect(student_model, _saes(sub, tensors)[1], feature, tokens, LAYER, alphas, k=4)
    assert isinstance(got, dict) and {"kl", "promoted"} <= set(got), "steering_effect returns {'kl': ..., 'promoted': ...}"
    kl, promoted = tensor(got["kl"], "kl"), tensor(got["promoted"], "promoted").long()
    expected = _steering_effect(ref, tensors, feature, tokens, alphas)
    norm = tensors["W_dec"][feature].norm().item()
    unnormalised = _steering_effect(ref, tensors, feature, tokens, [a * norm for a in alphas])["kl"]
    encoder = {**tensors, "W_dec": tensors["W_enc"].T.contiguous()}
    mistakes = {
        f"steer along the unit decoder direction: W_dec[feature] has norm {norm:.2f} here, divide it out": unnormalised,
        "the steering direction is the decoder row W_dec[feature] (what the SAE writes), not the encoder column":
            _steering_effect(ref, encoder, feature, tokens, alphas)["kl"],
    }
    # relative agreement: KL(Q || P) is only 1-2% away from KL(P || Q) here
    assert kl.shape == expected["kl"].shape and torch.allclose(
        kl, expected["kl"], rtol=tol.KL_RTOL, atol=tol.KL_ATOL), diagnose(
        kl, expected["kl"], "the KL divergences", mistakes) + (
        " (KL(P || Q) = Σ P (log P - log Q) with P the clean next-token distribution at the last position, Q the "
        "steered one, averaged over the batch)")
    assert torch.equal(promoted, expected["promoted"]), (
        f"promoted tokens: expected {expected['promoted'].tolist()}, got {promoted.tolist()}: the k ids whose "
        "log-probability at the last position rises most (log Q - log P averaged over the batch), largest first")


# --------------------------------------------------------------------------------------------------
# 4. Clamping through the SAE


@recorded
def _clamped(ref, tensors: dict[str, torch.Tensor], tokens: torch.Tensor, feature: int, value: float,
             positions: list[int] | None) -> torch.Tensor:
    """The tiny GPT-2's logits with the reference's clamp in place."""
    with ref.clamp_latent(_gpt2(), LAYER, sae_from_tensors(tensors), feature, value, positions), torch.no_grad():
        return _gpt2()(input_ids=tokens).logits


@graded(points=3)
def test_clamp_latent(sub, ref):
    model, student_model = _models(sub)
    tensors = _sae_tensors(41)
    sae, student_sae = _saes(sub, tensors)
    tokens = random_tokens(42, 2, 9)
    clean_resid, clean_logits = residual_stream(model, tokens, LAYER), model(input_ids=tokens).logits
    _, same = _inside(sub, lambda: sub.clamp_latent(student_model, LAYER, student_sae, 3, None), student_model, tokens)
    with patch_residual(model, LAYER, lambda x: sae(x)[0]), torch.no_grad():
        without_error = model(input_ids=tokens).logits
    assert not close(same, without_error) or close(same, clean_logits), (
        "clamping a latent to its own value replaced the residual stream by the SAE's reconstruction: add the error "
        "term x - decode(encode(x)) back")
    assert torch.allclose(same, clean_logits, atol=tol.THROUGH_MODEL), (
        f"clamping a latent to its own value must leave the model unchanged; the logits moved by up to "
        f"{(same - clean_logits).abs().max():.3g}")
    positions, value = [1, 4, 6], 2.5
    resid, logits = _inside(sub, lambda: sub.clamp_latent(student_model, LAYER, student_sae, 3, value, positions),
                            student_model, tokens)
    others = torch.ones(9, dtype=torch.bool)
    others[positions] = False
    assert torch.allclose(resid[:, others], clean_resid[:, others], atol=tol.SAME_MODEL), (
        f"clamping at positions {positions} also changed the residual stream at other positions")
    z = sae.encode(clean_resid[:, positions])
    assert not torch.allclose(resid[:, positions], clean_resid[:, positions], atol=tol.SAME_MODEL), (
        f"clamping latent 3 to {value} (its values there: {z[..., 3].flatten().tolist()}) changed nothing: compute the "
        "error term with the original codes, x - decode(z), not with the clamped ones")
    change = resid[:, positions] - clean_resid[:, positions]
    wanted = (value - z[..., 3])[..., None] * tensors["W_dec"][3]
    assert torch.allclose(change, wanted, atol=tol.FLOAT_IDENTITY), (
        "at the clamped positions the residual stream must change by (value - z_i) * W_dec[i] (decode(z') - decode(z)); "
        f"it changed by a vector of norm {change.norm(dim=-1).mean():.4f} instead of {wanted.norm(dim=-1).mean():.4f}")
    expected = _clamped(ref, tensors, tokens, 3, value, positions)
    assert close(logits, expected), diagnose(logits, expected, "the logits with the latent clamped", {})
    assert not (left := _hooks_left(sub, student_model)), f"hooks left registered after the with block: {left}"


# --------------------------------------------------------------------------------------------------
# 5. Ablation


@recorded
def _ablation(ref, tensors: dict[str, torch.Tensor], feature: int, tokens: torch.Tensor, value: float) -> dict:
    return ref.ablation_effect(_gpt2(), sae_from_tensors(tensors), feature, tokens, LAYER, value, 3)


@graded(points=3)
def test_ablation_effect(sub, ref):
    tensors = _sae_tensors(51)
    _, student_sae = _saes(sub, tensors)
    _, student_model = _models(sub)
    tokens, feature = random_tokens(52, 3, 12), 13  # fires at 13 of the 24 predicting positions
    for value in (0.0, 0.3):
        got = sub.ablation_effect(student_model, student_sae, feature, tokens, LAYER, value, 3)
        expected = _ablation(ref, tensors, feature, tokens, value)
        assert isinstance(got, dict) and set(expected) <= set(got), f"ablation_effect returns a dict with keys {sorted(expected)}"
        values = {k: number(got[k], f"ablation_effect()[{k!r}]") for k in expected}
        counts = (expected["n_firing"], expected["n_not_firing"])
        assert (values["n_firing"], values["n_not_firing"]) == counts, (
            f"with skip_first = 3 on [3, 12] tokens there are 3 x 8 predicting positions, {counts[0]} where latent "
            f"{feature} fires in the clean run; got counts {(values['n_firing'], values['n_not_firing'])} (whether it "
            "fires is decided on the clean residual stream, at the position that predicts the next token)")
        for key in ("firing", "not_firing"):
            assert not math.isnan(values[key]), f"value {value}: the mean loss change where the latent {key.replace('_', ' ')} is NaN"
            flipped = abs(values[key] + expected[key]) < tol.MISTAKE and abs(expected[key]) > tol.THROUGH_MODEL
            assert abs(values[key] - expected[key]) < tol.THROUGH_MODEL, (
                f"value {value}: mean loss change where the latent {key.replace('_', ' ')}: expected {expected[key]:+.5f}, "
                f"got {values[key]:+.5f}" + (" (the sign: ablated minus clean)" if flipped else
                                             " (clamp through the SAE, keeping the error term, at positions >= skip_first)"))
    assert not (left := _hooks_left(sub, student_model)), f"hooks left registered after ablation_effect: {left}"


# --------------------------------------------------------------------------------------------------
# 6. Where the activation comes from


@recorded
def _components(ref, which: str, tokens: torch.Tensor, layer: int) -> tuple[list[str], torch.Tensor]:
    model = _gpt2() if which == "gpt2" else tiny_llama(seed=0, n_layer=3)
    return ref.residual_components(model, tokens, layer)


def _check_components(sub, ref, which: str, student_model, model, tokens: torch.Tensor, layer: int) -> None:
    result = sub.residual_components(student_model, tokens, layer)
    assert isinstance(result, tuple) and len(result) == 2, "residual_components returns (names, components)"
    names, components = list(result[0]), tensor(result[1], "components")
    want_names, want = _components(ref, which, tokens, layer)
    assert names == list(want_names), f"{which}: component names should be {list(want_names)}, got {names}"
    total = residual_stream(model, tokens, layer)
    assert components.shape == want.shape, f"{which}: components must be {tuple(want.shape)}, got {tuple(components.shape)}"
    assert torch.allclose(components.sum(0), total, atol=tol.FLOAT_IDENTITY), (
        f"{which}: the components do not add up to the residual stream after block {layer} (max gap "
        f"{(components.sum(0) - total).abs().max():.3g}): the embedding is block 0's input; each attention's output is "
        "the first element of its tuple")
    assert close(components, want), diagnose(components, want, f"{which}: the components", {})
    assert not (left := _hooks_left(sub, student_model)), f"{which}: hooks left registered: {left}"


@graded(points=3)
def test_residual_components(sub, ref):
    model, student_model = _models(sub)
    _check_components(sub, ref, "gpt2", student_model, model, random_tokens(61, 2, 7), 1)


@graded(points=2, visible=False)
def test_residual_components_on_llama(sub, ref):
    model = tiny_llama(seed=0, n_layer=3)
    student_model = box_module(sub, "saecourse.models").tiny_llama(seed=0, n_layer=3)
    tokens = torch.randint(0, 512, (2, 9), generator=torch.Generator().manual_seed(62))
    _check_components(sub, ref, "llama", student_model, model, tokens, 2)


@graded(points=2)
def test_feature_attribution(sub, ref):
    tensors = _sae_tensors(71)
    sae, student_sae = _saes(sub, tensors)
    components = torch.randn(7, D_MODEL, generator=torch.Generator().manual_seed(72))
    result = sub.feature_attribution(components, student_sae, 4)
    assert isinstance(result, tuple) and len(result) == 2, "feature_attribution returns (contributions, constant)"
    contributions, constant = tensor(result[0], "contributions"), number(result[1], "constant")
    expected, want_constant = ref.feature_attribution(components, sae, 4)
    pre = ((components.sum(0) - sae.b_dec) @ sae.W_enc[:, 4] + sae.b_enc[4]).item()
    assert abs(contributions.sum().item() + constant - pre) < tol.FLOAT_IDENTITY, (
        f"contributions.sum() + constant must be the pre-activation {pre:.5f} of the summed components; got "
        f"{contributions.sum().item() + constant:.5f}" + (
            " (the constant is b_enc[i] - b_dec · W_enc[:, i]: the decoder bias is subtracted once, not per component)"
            if abs(constant - tensors["b_enc"][4].item()) < tol.MISTAKE else ""))
    assert close(contributions, expected), diagnose(contributions, expected, "the contributions", {
        "a component contributes c · W_enc[:, i] (the encoder column), not c · W_dec[i]": components @ tensors["W_dec"][4],
    })
    assert abs(constant - want_constant) < tol.ATOL, f"constant: expected {want_constant:.5f}, got {constant:.5f}"
