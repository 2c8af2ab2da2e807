"""Graded tests for Part 3, interpreting features.

Everything is checked on planted inputs whose answers are known: an SAE whose codes are chosen
row by row (``_planted``), an activation store with hand-made provenance, token windows with
constructed activations, and the tiny GPT-2 for the logit lens. SAEs are built in both processes
from the same tensors (``saecourse.training.sae_from_tensors``); the submission's are wrapped in a ``RowLimit`` that
refuses to encode more rows at once than the chunk size the test passes."""

from __future__ import annotations

import math

import torch

from grader import tolerances as tol
from grader.checks import box_module, close, diagnose, number, tensor
from grader.framework import graded
from saecourse.activations import ActivationStore
from saecourse.training import sae_from_tensors


# --------------------------------------------------------------------------------------------------
# Planted SAEs: codes = relu(x[:, :d_sae]), so a test chooses every code by choosing x


def _planted_tensors(d_in: int, d_sae: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    W_enc = torch.zeros(d_in, d_sae)
    W_enc[:d_sae] = torch.eye(d_sae) * scale
    return {"W_enc": W_enc, "b_enc": torch.zeros(d_sae), "W_dec": W_enc.T.clone(), "b_dec": torch.zeros(d_in)}


def _saes(sub, tensors: dict[str, torch.Tensor], chunk_size: int):
    """The same SAE here (for the reference) and in the submission's process, that one wrapped so
    that it refuses to encode more than ``chunk_size`` rows at once."""
    boxed = box_module(sub, "saecourse.training").sae_from_tensors(tensors)
    return sae_from_tensors(tensors), box_module(sub, "gradebox.standins").RowLimit(boxed, chunk_size)


def _planted_codes() -> torch.Tensor:
    """[23, 6] inputs whose codes (first 5 columns, ReLU) hold the cases a streaming top-k gets wrong:
    ties across chunks (latent 1), a latent firing only twice (latent 3), one never firing (latent 4)."""
    torch.manual_seed(11)
    x = torch.randn(23, 6)
    x[:, 0] = torch.linspace(-1, 3, 23)  # rises: the top rows are the last ones
    x[:, 1] = -1.0
    x[[3, 10, 17, 21], 1] = torch.tensor([2.0, 2.0, 2.0, 1.0])  # a three-way tie, in three different chunks
    x[:, 3] = -0.5
    x[[6, 19], 3] = torch.tensor([0.7, 1.4])
    x[:, 4] = -torch.rand(23)  # never fires
    return x


# --------------------------------------------------------------------------------------------------
# 2. Feature statistics


@graded(points=3)
def test_feature_stats(sub, ref):
    x = _planted_codes()
    here, boxed = _saes(sub, _planted_tensors(6, 5), chunk_size=5)
    expected = ref.feature_stats(here, x, 5)
    actual = sub.feature_stats(boxed, x, 5)
    assert isinstance(actual, dict), "feature_stats returns a dict with keys frequency, mean_when_firing, max"
    z = torch.relu(x[:, :5])
    count = (z > 0).sum(0).float()
    mistakes = {
        "frequency": {"frequency is a fraction of the rows (count / n), not a count": count},
        "mean_when_firing": {
            "average over the rows where the latent fires (z > 0), not over all rows": z.mean(0),
            "a latent that never fires has mean 0, not NaN (divide by the count clamped to at least 1)":
                z.sum(0) / count,
        },
        "max": {},
    }
    for key, wrong in mistakes.items():
        assert key in actual, f"feature_stats must return the key {key!r}; got {sorted(actual)}"
        got = tensor(actual[key], f"feature_stats()[{key!r}]")
        assert not got.isnan().any() or key != "mean_when_firing", (
            "mean_when_firing is NaN for the latent that never fires: it must be 0")
        assert close(got, expected[key]), diagnose(got, expected[key], f"feature_stats()[{key!r}]", wrong)
    torch.manual_seed(12)
    tensors = {"W_enc": torch.randn(8, 12), "b_enc": torch.randn(12) - 1, "W_dec": torch.randn(12, 8), "b_dec": torch.randn(8)}
    x = torch.randn(300, 8)
    here, boxed = _saes(sub, tensors, chunk_size=64)
    expected, actual = ref.feature_stats(here, x, 64), sub.feature_stats(boxed, x, 64)
    for key in expected:
        got = tensor(actual[key], f"feature_stats()[{key!r}]")
        assert close(got, expected[key]), diagnose(got, expected[key], f"feature_stats()[{key!r}] on a random SAE "
                                                   "(300 rows in chunks of 64)", {})


# --------------------------------------------------------------------------------------------------
# 3. Top activations, example windows, quantiles


def _check_top(sub, ref, tensors, x, k: int, chunk_size: int, what: str) -> None:
    here, boxed = _saes(sub, tensors, chunk_size)
    expected_values, expected_rows = ref.top_activations(here, x, k, chunk_size)
    result = sub.top_activations(boxed, x, k, chunk_size)
    assert isinstance(result, tuple) and len(result) == 2, "top_activations returns (values, rows)"
    values, rows = tensor(result[0], "top_activations values"), tensor(result[1], "top_activations rows").long()
    assert values.shape == expected_values.shape and rows.shape == expected_rows.shape, (
        f"{what}: values and rows must be [d_sae, k] = {tuple(expected_values.shape)}; got {tuple(values.shape)}, "
        f"{tuple(rows.shape)}")
    assert close(values, expected_values), diagnose(values, expected_values, f"{what}: top values", {}) + (
        " (keep a running top-k over all chunks, in descending order)")
    if not torch.equal(rows, expected_rows):
        codes = here.encode(x).T  # [d_sae, n]
        valid = bool(((rows >= 0) & (rows < len(x))).all())
        if torch.equal(rows % chunk_size, expected_rows % chunk_size):
            hint = "the rows are counted within each chunk: add the chunk's first row to make them indices into acts"
        elif valid and torch.allclose(codes.gather(1, rows), expected_values):
            hint = ("equal values (including the zeros that pad a latent firing fewer than k times) must come earliest "
                    "row first: torch.topk promises no order among ties; torch.sort(..., stable=True) does, with the "
                    "running top-k placed before the new chunk")
        else:
            bad = (rows != expected_rows).any(1).nonzero().flatten().tolist()
            hint = f"latents {bad[:5]} point at other rows (expected {expected_rows[bad[0]].tolist()}, got {rows[bad[0]].tolist()})"
        raise AssertionError(f"{what}: wrong rows: {hint}")


@graded(points=3)
def test_top_activations(sub, ref):
    _check_top(sub, ref, _planted_tensors(6, 5), _planted_codes(), k=4, chunk_size=5,
               what="top_activations on planted codes (ties across chunks, a latent firing twice, one never)")


@graded(points=2, visible=False)
def test_top_activations_matches_reference_at_scale(sub, ref):
    torch.manual_seed(13)  # integer weights and half-integer inputs: about 200 ties among the latents' top 12
    tensors = {"W_enc": torch.randint(-2, 3, (16, 40)).float(), "b_enc": torch.randn(40).round() - 2,
               "W_dec": torch.randn(40, 16), "b_dec": torch.zeros(16)}
    x = (torch.randn(3000, 16) * 2).round() / 2
    _check_top(sub, ref, tensors, x, k=12, chunk_size=256, what="top_activations on 3000 rows in chunks of 256")


def _planted_store() -> tuple[ActivationStore, dict[int, torch.Tensor], torch.Tensor]:
    """A store of four 8-token contexts (first 2 positions dropped), in shuffled order, the last one
    cut short; the token ids of its two documents; one latent's value at every row."""
    ctx_len, drop = 8, 2
    docs = {5: torch.arange(1000, 1030), 7: torch.arange(2000, 2024)}
    contexts = [(5, 0, 8), (7, 8, 8), (5, 16, 8), (5, 8, 6)]  # (document, start, rows kept + drop); the last is cut
    doc_ids, positions, context_pos = [], [], []
    for doc, start, length in contexts:
        for c in range(drop, length):
            doc_ids.append(doc), positions.append(start + c), context_pos.append(c)
    doc_ids, positions, context_pos = map(torch.tensor, (doc_ids, positions, context_pos))
    tokens = torch.stack([docs[int(d)][int(p)] for d, p in zip(doc_ids, positions)])
    store = ActivationStore(torch.zeros(len(tokens), 4), doc_ids, positions, context_pos, tokens,
                            {"ctx_len": ctx_len, "drop_first_positions": drop})
    return store, docs, torch.arange(len(tokens)) * 0.5 + 1.0


def _row(store: ActivationStore, doc: int, position: int, start: int) -> int:
    match = (store.doc_ids == doc) & (store.positions == position) & (store.positions - store.context_pos == start)
    return int(match.nonzero()[0])


@graded(points=3)
def test_example_window(sub, ref):
    store, docs, values = _planted_store()
    boxed = box_module(sub, "saecourse.activations").ActivationStore(
        store.acts, store.doc_ids, store.positions, store.context_pos, store.tokens, store.metadata)
    cases = [
        ("a token near the start of its document", _row(store, 5, 3, 0), 5, 2),
        ("the last token of a context (the window stops at the context's end)", _row(store, 5, 7, 0), 3, 3),
        ("a token whose context is preceded in the store by another context of the same document",
         _row(store, 5, 11, 8), 6, 1),
        ("a token near the end of the store", _row(store, 5, 12, 8), 2, 3),
    ]
    for what, row, before, after in cases:
        doc_tokens = docs[int(store.doc_ids[row])]
        ids_e, acts_e, center_e = ref.example_window(store, values, row, doc_tokens, before, after)
        result = sub.example_window(boxed, values, row, doc_tokens, before, after)
        assert isinstance(result, tuple) and len(result) == 3, "example_window returns (ids, acts, center)"
        ids, acts, center = tensor(result[0], "example_window ids").long(), tensor(result[1], "example_window acts"), result[2]
        label = f"example_window for {what} (row {row}, before={before}, after={after})"
        p = int(store.positions[row])
        if not torch.equal(ids, ids_e):
            lo = p - int(center_e)
            offsets = [int(i) - int(doc_tokens[0]) for i in ids] if len(ids) else []
            span = (f"your window covers document positions {offsets[0]}-{offsets[-1]}; expected {lo}-{lo + len(ids_e) - 1}"
                    if offsets and offsets == list(range(offsets[0], offsets[0] + len(offsets))) else "")
            raise AssertionError(
                f"{label}: token ids {ids.tolist()}, expected {ids_e.tolist()}. {span} (row {row}'s token is at document "
                f"position positions[row] = {p}; take `before` tokens before it and `after` after it, inclusive, cut at "
                "the context's start, positions[row] - context_pos[row], and at its end, start + ctx_len)")
        assert number(center, "example_window center") == center_e, (
            f"{label}: center index {center}, expected {center_e} (the index of row {row}'s token inside the window)")
        assert acts.shape == acts_e.shape and torch.equal(acts.isnan(), acts_e.isnan()), (
            f"{label}: activations {acts.tolist()}, expected {acts_e.tolist()}: a token has an activation only if the "
            "store holds a row for it in the same context (same document, same position, same context start); "
            "dropped first positions and rows past the store's end are NaN")
        known = ~acts_e.isnan()
        assert torch.allclose(acts[known], acts_e[known]), (
            f"{label}: activations {acts.tolist()}, expected {acts_e.tolist()} (values[r] for the row r of each token)")


def _ranks(values: torch.Tensor) -> dict[int, int]:
    """The rank of every firing row among the firing rows sorted by value (stable)."""
    ascending = [int(r) for r in values.argsort(stable=True) if values[r] > 0]
    return {r: i for i, r in enumerate(ascending)}


@graded(points=2)
def test_quantile_rows(sub, ref):
    torch.manual_seed(14)
    values = torch.distributions.Exponential(1.0).sample((400,)) ** 3  # heavily skewed
    values[torch.randperm(400)[:100]] = 0.0
    ranks, n_firing, n_bins, per_bin = _ranks(values), 300, 4, 3
    result = sub.quantile_rows(values, n_bins, per_bin, 0)
    assert isinstance(result, (list, tuple)) and len(result) == n_bins, f"quantile_rows returns a list of {n_bins} tensors"
    bins = [tensor(b, "quantile_rows bin").long().flatten() for b in result]
    chosen = torch.cat(bins)
    assert (values[chosen] > 0).all(), "quantile_rows must sample only rows where the latent fires (values > 0)"
    assert len(chosen.unique()) == len(chosen), "a row was drawn twice: sample without replacement"
    for i, b in enumerate(bins):
        assert len(b) == per_bin, f"bin {i} holds {len(b)} rows; draw per_bin = {per_bin} from each bin"
        lo, hi = i * n_firing / n_bins - 1, (i + 1) * n_firing / n_bins + 1
        got = sorted(ranks[int(r)] for r in b)
        assert all(lo <= r < hi for r in got), (
            f"bin {i} (lowest first) must hold the firing rows ranked {math.ceil(lo + 1)}-{math.floor(hi - 1)} of {n_firing} "
            f"by activation; yours are ranked {got}: bins hold equal numbers of rows (quantiles), not equal widths "
            "of the value range")
    again = [tensor(b, "quantile_rows bin").long() for b in sub.quantile_rows(values, n_bins, per_bin, 0)]
    other = [tensor(b, "quantile_rows bin").long() for b in sub.quantile_rows(values, n_bins, per_bin, 1)]
    assert all(torch.equal(a, b) for a, b in zip(again, bins)), "the same seed must give the same rows"
    assert any(not torch.equal(a, b) for a, b in zip(other, bins)), (
        "seeds 0 and 1 gave the same rows: draw at random within each bin, with a generator seeded by `seed`")
    small = torch.tensor([0.0, 5.0, 1.0, 0.0, 3.0, 2.0, 4.0, 6.0])
    expected = [sorted(b.tolist()) for b in ref.quantile_rows(small, 4, 3, 0)]
    got = [sorted(tensor(b, "quantile_rows bin").long().tolist()) for b in sub.quantile_rows(small, 4, 3, 0)]
    assert got == expected, (f"quantile_rows([0, 5, 1, 0, 3, 2, 4, 6], 4 bins, 3 per bin): expected rows {expected}, "
                             f"got {got} (a bin smaller than per_bin gives all its rows)")


# --------------------------------------------------------------------------------------------------
# 4. Logit lens


@graded(points=2, timeout=180)
def test_direction_logits(sub, ref):
    from saecourse.models import final_norm, tiny_gpt2, unembedding

    model, _ = tiny_gpt2(seed=0, n_layer=2, n_embd=64)
    boxed, _ = box_module(sub, "saecourse.models").tiny_gpt2(seed=0, n_layer=2, n_embd=64)
    torch.manual_seed(15)
    with torch.no_grad():  # a LayerNorm with a visible bias and gain, the same in both processes
        final_norm(model).weight.copy_(1 + 0.5 * torch.randn(64))
        final_norm(model).bias.copy_(0.5 * torch.randn(64))
    weights = {"weight": final_norm(model).weight.detach(), "bias": final_norm(model).bias.detach()}
    box_module(sub, "saecourse.models").final_norm(boxed).load_state_dict(weights)
    for direction in (torch.randn(64), torch.randn(3, 64)):
        expected = ref.direction_logits(model, direction)
        actual = tensor(sub.direction_logits(boxed, direction), "direction_logits")
        norm, W_U = final_norm(model), unembedding(model).detach()
        with torch.no_grad():
            assert close(actual, expected), diagnose(actual, expected, f"direction_logits of a {tuple(direction.shape)} direction", {
                "pass the direction through the final norm before the unembedding": direction @ W_U.T,
                "remove the norm's bias, the same for every direction: norm(d) - norm(0)": norm(direction) @ W_U.T,
            })


# --------------------------------------------------------------------------------------------------
# 5. Colouring a token by its activation


@graded(points=2)
def test_activation_alpha(sub, ref):
    torch.manual_seed(18)
    acts = torch.randn(3, 9) * 2  # negative values, values above max_act, and unknown ones
    acts[0, 0], acts[1, 4], acts[2, 8] = float("nan"), float("nan"), float("nan")
    acts[2, :3] = torch.tensor([0.0, 3.0, 1.5])  # zero, above the maximum, exactly half of it
    for max_act in (3.0, 2.5, 0.0, -1.0):
        what = f"activation_alpha(acts [3, 9], max_act={max_act})"
        expected = ref.activation_alpha(acts, max_act)
        got = tensor(sub.activation_alpha(acts, max_act), what)
        assert got.shape == acts.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(acts.shape)} (one opacity per token)"
        unknown = acts.isnan()
        assert torch.equal(got.isnan(), unknown), (
            f"{what}: NaN at {got.isnan().nonzero().tolist()}, expected exactly where the activation is unknown, "
            f"{unknown.nonzero().tolist()}" + (" (an unknown activation stays NaN: it is not a silent token, alpha 0)"
                                             if not got.isnan().any() else
                                             " (when max_act <= 0 every known token has alpha 0, not inf or NaN)"
                                             if max_act <= 0 else ""))
        known = ~unknown
        window_max = acts.nan_to_num(float("-inf")).amax(1, keepdim=True)
        assert close(got[known], expected[known]), diagnose(got[known], expected[known], what, {
            "clip a / max_act to [0, 1]": (acts / max_act)[known] if max_act > 0 else torch.zeros(int(known.sum())),
            "scale by the latent's max_act, not by each window's own maximum (weak examples must look weak)":
                (acts / window_max).clamp(0, 1)[known],
        } if max_act > 0 else {})


# --------------------------------------------------------------------------------------------------
# 6. Explainer, look-up table, simulator, score


_MASS = {7: 5.0, 3: 3.0, 4: 1.0, 9: 1.0, 2: 0.0}


@graded(points=2)
def test_explain_tokens(sub, ref):
    # mass per token id: 7 -> 5.0, 3 -> 3.0, 4 -> 1.0, 9 -> 1.0 (a tie: 4 first), 2 -> 0 (never active)
    ids = torch.tensor([[7, 3, 2, 9, 7], [4, 3, 7, 2, 9]])
    acts = torch.tensor([[2.0, 1.5, 0.0, 0.5, float("nan")], [1.0, 1.5, 3.0, 0.0, 0.5]])
    counts_rule = {int(t): 1.0 for t in (7, 3, 2, 9)}
    for max_size, coverage, want in ((8, 0.8, {7, 3}), (8, 0.95, {7, 3, 4, 9}), (3, 0.95, {7, 3, 4}), (8, 1.0, {7, 3, 4, 9})):
        expected = ref.explain_tokens(ids, acts, max_size, coverage)
        assert set(expected) == want, "the planted case is wrong (the reference disagrees with the hand computation)"
        actual = sub.explain_tokens(ids, acts, max_size, coverage)
        assert isinstance(actual, dict), "explain_tokens returns a dict {token id: 1.0}"
        got = {int(number(k, "token id")): number(v, "prediction") for k, v in actual.items()}
        hint = (" (ties in mass: the smaller id first)" if max_size == 3 and set(got) == {7, 3, 9} else
                " (keep ids until their mass reaches coverage × total: the id that crosses it is kept)"
                if set(got) < want and want - set(got) == {max(want, key=lambda t: (-_MASS[t], -t))} else
                " (never keep an id with zero mass)" if 2 in got else
                " (rank ids by activation mass, the sum of their activations, not by how often they occur)"
                if set(got) <= set(counts_rule) else "")
        assert got == {t: 1.0 for t in want}, (
            f"explain_tokens(max_size={max_size}, coverage={coverage}) kept {sorted(got)}, expected {sorted(want)} "
            f"(masses: 7 -> 5, 3 -> 3, 4 -> 1, 9 -> 1, 2 -> 0; NaN counts as 0){hint}")


@graded(points=2)
def test_lookup_and_simulate(sub, ref):
    ids = torch.tensor([[1, 2, 1], [3, 1, 5]])
    acts = torch.tensor([[1.0, 0.0, 2.0], [4.0, 3.0, float("nan")]])
    table = sub.token_lookup_table(ids, acts)
    assert isinstance(table, dict), "token_lookup_table returns a dict {token id: mean activation}"
    got = {int(number(k, "token id")): number(v, "mean activation") for k, v in table.items()}
    want = {1: 2.0, 2: 0.0, 3: 4.0}
    assert set(got) == set(want), (f"token_lookup_table keys {sorted(got)}, expected {sorted(want)} (token 5 was only "
                                   "seen with a NaN activation: leave it out)")
    for t, mean in want.items():
        hint = (" (the mean over the token's occurrences, not the sum)"
                if abs(got[t] - 6.0) < tol.CLOSED_FORM and t == 1 else "")
        assert abs(got[t] - mean) < tol.CLOSED_FORM, f"token {t}: mean activation {got[t]}, expected {mean}{hint}"
    explanation = {1: 0.5, 7: 2.0}
    tokens = torch.tensor([[1, 7, 3], [7, 7, 1]])
    simulated = tensor(sub.simulate(explanation, tokens), "simulate")
    expected = ref.simulate(explanation, tokens)
    assert close(simulated, expected), diagnose(simulated, expected, "simulate({1: 0.5, 7: 2.0}, ...)", {}) + (
        ": each token's prediction is explanation.get(token id, 0.0)")
    empty = tensor(sub.simulate({}, tokens), "simulate({})")
    assert empty.shape == tokens.shape and (empty == 0).all(), "an empty explanation predicts 0 everywhere"


@graded(points=3)
def test_score_explanation(sub, ref):
    def scored(simulated, real, what):
        result = sub.score_explanation(simulated, real)
        assert isinstance(result, dict) and {"pearson", "balanced_accuracy"} <= set(result), (
            "score_explanation returns {'pearson': ..., 'balanced_accuracy': ...}")
        got = {k: number(result[k], f"score_explanation()[{k!r}] ({what})") for k in ("pearson", "balanced_accuracy")}
        expected = ref.score_explanation(simulated, real)
        for k in got:
            assert not math.isnan(got[k]), f"{what}: {k} is NaN" + (
                " (a constant prediction has correlation 0)" if k == "pearson" else
                " (when every token fires, or none, it is the rate of the class that occurs alone)")
            assert abs(got[k] - expected[k]) < tol.ATOL, (
                f"{what}: {k} = {got[k]:.4f}, expected {expected[k]:.4f}" + _hint(k, got[k], simulated, real))
        return got

    torch.manual_seed(16)
    ids = torch.randint(0, 50, (40, 31))
    in_set = torch.isin(ids, torch.tensor([3, 7, 11]))
    real = in_set * (1 + 0.2 * torch.rand(40, 31))  # a latent that fires on tokens 3, 7 and 11, and only there
    perfect = scored(in_set.float(), real, "the perfect explanation {3, 7, 11}")
    assert perfect["pearson"] > tol.PERFECT_PEARSON, f"a perfect explanation must score > {tol.PERFECT_PEARSON}"
    unrelated = scored(torch.isin(ids, torch.tensor([20, 30, 40])).float(), real, "an unrelated explanation {20, 30, 40}")
    assert abs(unrelated["pearson"]) < tol.RANDOM_PEARSON, "an unrelated explanation must score about 0"
    scored(torch.zeros(40, 31), real, "a constant prediction")
    real_nan = real.clone()
    real_nan[:, :3] = float("nan")  # not scored
    scored(in_set.float() * torch.rand(40, 31), real_nan, "real activations with NaN (left out)")

    # detection on 6 tokens: 0-2 fire, 3-5 do not; predicted: 0, 1, 3 -> TPR 2/3, TNR 2/3
    real = torch.tensor([[1.0, 2.0, 0.5, 0.0, 0.0, 0.0]])
    simulated = torch.tensor([[0.5, 0.5, 0.0, 0.5, 0.0, 0.0]])
    got = scored(simulated, real, "detection on 6 tokens (3 fire; 2 of them and 1 other predicted)")
    assert abs(got["balanced_accuracy"] - 2 / 3) < tol.CLOSED_FORM, (
        f"balanced accuracy = (TPR + TNR) / 2 = (2/3 + 2/3) / 2; got {got['balanced_accuracy']:.4f}")
    scored(torch.rand(5, 4).round(), torch.rand(5, 4) + 0.1, "detection when every token fires")
    scored(torch.rand(5, 4).round(), torch.zeros(5, 4), "detection when no token fires")
    masked = torch.cat([real, torch.tensor([[float("nan"), float("nan")]])], 1)
    scored(torch.cat([simulated, torch.tensor([[0.5, 0.5]])], 1), masked,
           "detection when predictions fall on tokens whose real activation is NaN (not scored)")
    imbalanced = torch.zeros(1, 8)
    imbalanced[0, 0] = 1.0  # 1 token fires, 7 do not
    got = scored(torch.ones(1, 8), imbalanced, "detection when 1 of 8 tokens fires and every token is predicted to")
    assert abs(got["balanced_accuracy"] - 0.5) < tol.CLOSED_FORM, "balanced accuracy, not accuracy: (1 + 0) / 2"


def _hint(metric: str, value: float, simulated: torch.Tensor, real: torch.Tensor) -> str:
    """A likely mistake behind a wrong score, when one reproduces ``value``."""
    scored = real.isnan().logical_not()
    if metric == "balanced_accuracy":
        known = scored.flatten()
        fires, predicted = real.flatten() > 0, simulated.flatten() > 0
        if abs(value - (fires == predicted)[known].double().mean().item()) < tol.ATOL:
            return " (that is plain accuracy: balanced accuracy is the mean of the true-positive and true-negative rates)"
        if not known.all():
            return " (a token whose real activation is NaN is not scored: leave it out of both sides)"
    if metric == "pearson" and not scored.all():
        zeroed = torch.corrcoef(torch.stack([simulated.flatten().double(), real.nan_to_num(0).flatten().double()]))[0, 1]
        if abs(value - zeroed.item()) < tol.ATOL:
            return " (leave tokens whose real activation is NaN out of both sides; do not count them as 0)"
    return ""


# --------------------------------------------------------------------------------------------------
# 7. Directions read like latents


@graded(points=1)
def test_direction_encoder(sub, ref):
    torch.manual_seed(17)
    directions = torch.randn(5, 8) * torch.tensor([[0.5], [1.0], [2.0], [3.0], [0.1]])
    mean, x = torch.randn(8), torch.randn(20, 8) * 2
    unit = directions / directions.norm(dim=-1, keepdim=True)
    threshold = torch.tensor([0.0, 0.5, 1.0, 2.0, -0.5])
    for t, what in ((None, "DirectionEncoder(directions, mean).encode"),
                    (threshold, "DirectionEncoder(directions, mean, threshold).encode")):
        extra = () if t is None else (t,)
        expected = ref.DirectionEncoder(directions, mean, *extra).encode(x)
        actual = tensor(sub.DirectionEncoder(directions, mean, *extra).encode(x), what)
        shift = 0.0 if t is None else t
        assert close(actual, expected), diagnose(actual, expected, what, {
            "normalise the directions to unit norm": torch.relu((x - mean) @ directions.T - shift),
            "centre x: subtract the mean before projecting": torch.relu(x @ unit.T - shift),
            "take the positive part (ReLU) of the projection minus the threshold": (x - mean) @ unit.T - shift,
            **({} if t is None else {
                "subtract the threshold before the ReLU: relu(projection - threshold)": torch.relu((x - mean) @ unit.T) - t,
                "subtract the threshold: a direction fires only where its projection exceeds it": torch.relu((x - mean) @ unit.T),
            }),
        })
