"""Graded tests for Part 7, the project template.

The discovery statistic is checked on codes whose Mann-Whitney U, tie-corrected variance and
p-value are computed by hand, then against the reference on random sparse codes; the completeness
measure on codes built so that one latent carries the label and one fires only on negatives, then
against the reference. The pipeline runs in the submission's process with the submission's two
functions on a small set-up (the tiny GPT-2 of the graders, a random SAE, an inline concept), and
the judge reads the catalog it wrote: the required files and columns, sane values, and the same
latents and completeness numbers as the reference's run."""

from __future__ import annotations

import csv
import json
import math

import torch

from grader import tolerances as tol
from grader.checks import box_module, close, diagnose, number, scratch, submitted_file, tensor
from grader.framework import graded
from grader.replay import recorded
from saecourse import probes

KEYS = ("rate_pos", "rate_neg", "auroc", "z", "p")


def _stats(result, what: str = "discover") -> dict[str, torch.Tensor]:
    assert isinstance(result, dict) and set(KEYS) <= set(result), f"{what} returns a dict with keys {KEYS}"
    return {key: tensor(result[key], key).double() for key in KEYS}


def _hand_codes() -> tuple[torch.Tensor, torch.Tensor]:
    """4 positive and 5 negative rows, 3 latents.
    Latent 0: positives 2, 1.5, 0, 3 against negatives 0, 0, 1, 0, 0: U = 5 + 5 + 2 + 5 = 17 (the zero
    positive ties with four zero negatives: 4 halves), AUROC 17/20; five zeros tie, so
    σ² = 20/12 · (10 - (125 - 5)/72) = 13.8889, z = 7 / 3.72678 = 1.87830, p = 0.030171.
    Latent 1 never fires (σ = 0: z = 0, p = 1/2). Latent 2 fires on negatives only."""
    labels = torch.tensor([1, 0, 1, 0, 0, 1, 0, 1, 0])
    codes = torch.zeros(9, 3)
    codes[labels == 1, 0] = torch.tensor([2.0, 1.5, 0.0, 3.0])
    codes[labels == 0, 0] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
    codes[labels == 0, 2] = torch.tensor([0.5, 0.0, 0.7, 0.0, 0.2])
    return codes, labels


@graded(points=3)
def test_discover(sub, ref):
    codes, labels = _hand_codes()
    got = _stats(sub.discover(codes, labels))
    u, var = 17.0, 20 / 12 * (10 - 120 / 72)
    z = (u - 10) / math.sqrt(var)
    p = 0.5 * math.erfc(z / math.sqrt(2))
    assert got["rate_pos"].tolist()[0] == 0.75 and abs(got["rate_neg"][0].item() - 0.2) < tol.CLOSED_FORM, (
        f"latent 0 fires on 3 of 4 positive rows and 1 of 5 negative rows: rates 0.75 and 0.2, got "
        f"{got['rate_pos'][0].item():.3f} and {got['rate_neg'][0].item():.3f}")
    auroc = got["auroc"][0].item()
    hint = {round(19 / 20, 6): " (a tie counted as a win: count it one half)", round(15 / 20, 6): " (a tie counted as a loss)",
            round(3 / 20, 6): " (positives and negatives swapped)"}.get(round(auroc, 6), "")
    assert abs(auroc - 0.85) < tol.CLOSED_FORM, f"latent 0: U = 17 of 20 pairs, AUROC 0.85; got {auroc:.4f}{hint}"
    untied = (u - 10) / math.sqrt(20 / 12 * 10)
    z_got = got["z"][0].item()
    hint = (" (the variance without the tie correction: five zero codes tie)"
            if abs(z_got - untied) < tol.CLOSED_FORM_STATISTIC else "")
    assert abs(z_got - z) < tol.CLOSED_FORM_STATISTIC, (
        f"latent 0: z = (17 - 10) / σ with the tie-corrected σ = {math.sqrt(var):.5f}: {z:.5f}; got {z_got:.5f}{hint}")
    p_got = got["p"][0].item()
    mistakes = {round(2 * p, 6): "two-sided: the question is one-sided (fires more on positives)",
                round(1 - p, 6): "the lower tail: p = 1 - Φ(z) = Φ(-z)"}
    hint = next((f" ({m})" for value, m in mistakes.items() if abs(p_got - value) < tol.P_VALUE), "")
    assert abs(p_got - p) < tol.P_VALUE, f"latent 0: one-sided p = 1 - Φ({z:.4f}) = {p:.6f}; got {p_got:.6f}{hint}"
    assert got["auroc"][2].item() < 0.5 and got["p"][2].item() > 0.5, (
        "latent 2 fires on negatives only: AUROC below 1/2 and p above 1/2 (the test is one-sided)")
    g = torch.Generator().manual_seed(71)
    labels = (torch.rand(300, generator=g) < 0.4).long()
    codes = torch.relu(torch.randn(300, 40, generator=g) - 1.0 + 0.6 * labels[:, None] * (torch.arange(40) % 3 == 0))
    got, want = _stats(sub.discover(codes, labels)), ref.discover(codes, labels)
    for key in KEYS:
        assert close(got[key].float(), want[key]), diagnose(got[key].float(), want[key], f"{key} on 300 rows of 40 sparse latents", {})


@graded(points=1, visible=False)
def test_discover_with_a_silent_latent(sub, ref):
    codes, labels = _hand_codes()
    got = _stats(sub.discover(codes, labels))
    assert torch.isfinite(got["z"][1]) and torch.isfinite(got["p"][1]), (
        f"latent 1 never fires, so σ = 0: give it z = 0 and p = 1/2 (got z {got['z'][1].item()}, p {got['p'][1].item()})")
    assert (got["z"][1].item() == 0 and abs(got["p"][1].item() - 0.5) < tol.CLOSED_FORM
            and got["auroc"][1].item() == 0.5), (
        "a latent that never fires: AUROC 1/2 (every pair ties), z = 0, p = 1/2")


def _completeness_data() -> tuple[torch.Tensor, ...]:
    """300 rows in 3 splits; x holds the label in one noisy direction; latent 0 fires on most positives,
    latent 1 on a few positives, latent 2 only on negatives (so a probe on it still separates)."""
    g = torch.Generator().manual_seed(72)
    split = torch.cat([torch.zeros(150), torch.ones(50), torch.full((100,), 2.0)]).long()
    labels = (torch.rand(300, generator=g) < 0.5).long()
    x = torch.randn(300, 12, generator=g)
    x[:, 0] += 1.5 * labels
    codes = torch.zeros(300, 3)
    codes[:, 0] = torch.relu(x[:, 0] - 0.3 + 0.3 * torch.randn(300, generator=g))
    codes[:, 1] = torch.where((labels == 1) & (torch.rand(300, generator=g) < 0.2), 1.0, 0.0)
    codes[:, 2] = torch.where((labels == 0) & (torch.rand(300, generator=g) < 0.5), 2.0, 0.0)
    return codes, x, labels, split


L2S = [1e-2, 1e-1, 1.0]


@recorded
def _reference_completeness(ref, codes, x, labels, split, ks) -> dict:
    result = ref.completeness(codes, x, labels, split, ks, L2S)
    return {key: torch.as_tensor(value) for key, value in result.items()}


@graded(points=3)
def test_completeness(sub, ref):
    codes, x, labels, split = _completeness_data()
    ks = [1, 2, 3]
    got = sub.completeness(codes, x, labels, split, ks, L2S)
    keys = ("probe_auroc", "auroc", "recovered", "unexplained")
    assert isinstance(got, dict) and set(keys) <= set(got), f"completeness returns a dict with keys {keys}"
    want = _reference_completeness(ref, codes, x, labels, split, ks)
    full = number(got["probe_auroc"], "probe_auroc")
    assert abs(full - want["probe_auroc"]) < tol.PROBE_AUROC, (
        f"the probe on the full activation: test AUROC {want['probe_auroc']:.4f}, got {full:.4f} (probes.train_probe on x)")
    aurocs, recovered = tensor(got["auroc"], "auroc").double(), tensor(got["recovered"], "recovered").double()
    accuracy = _accuracies(codes, labels, split, ks)
    assert aurocs.shape == (len(ks),), f"one AUROC per k: shape ({len(ks)},), got {tuple(aurocs.shape)}"
    assert not torch.allclose(aurocs, accuracy.double(), atol=tol.COUNTED), (
        "those are test accuracies: report each sparse probe's test AUROC")
    assert torch.allclose(aurocs, want["auroc"].double(), atol=tol.PROBE_AUROC), (
        f"sparse probes on the top k = {ks} latents: test AUROC {[round(a, 4) for a in want['auroc'].tolist()]}, got "
        f"{[round(a, 4) for a in aurocs.tolist()]} (probes.train_probe on codes[:, :k])")
    mistakes = {"the AUROC ratio without subtracting chance: (AUROC_k - 1/2) / (AUROC_full - 1/2)": want["auroc"] / want["probe_auroc"]}
    assert close(recovered.float(), want["recovered"].float()), diagnose(recovered.float(), want["recovered"].float(),
                                                                        "the recovered share per k", mistakes)
    rows = sorted(tensor(got["unexplained"], "unexplained").long().flatten().tolist())
    expected = sorted(want["unexplained"].long().tolist())
    if rows != expected:
        fires = (codes[:, : max(ks)] > 0).any(-1)
        readings = {
            "rows of every split: only the test rows": torch.nonzero((labels == 1) & ~fires).squeeze(1),
            "negative rows too: the unexplained are positive test rows": torch.nonzero((split == 2) & ~fires).squeeze(1),
            "only the first latent checked: a row is unexplained when none of the top latents fires":
                torch.nonzero((split == 2) & (labels == 1) & ~(codes[:, 0] > 0)).squeeze(1),
        }
        hint = next((f" ({m})" for m, wrong in readings.items() if sorted(wrong.tolist()) == rows), "")
        raise AssertionError(f"unexplained: {len(expected)} positive test rows where no top latent fires, got {len(rows)}{hint}")


def _accuracies(codes: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, ks: list[int]) -> torch.Tensor:
    """The test accuracies of the sparse probes (what a plausible mistake reports instead of their AUROC)."""
    return torch.tensor([probes.train_probe(codes[:, :k], labels, split, L2S)["test_accuracy"] for k in ks])


# --------------------------------------------------------------------------------------------------
# The pipeline, on a small set-up

INLINE_POSITIVE = [f"Is the {w} in the garden today" for w in ("cat", "dog", "king", "rain", "light", "queen", "bird", "child",
                                                             "horse", "river", "stone", "fire", "wind", "moon", "ship",
                                                             "tree", "house", "road", "field", "bread")]
INLINE_NEGATIVE = [text.replace("Is the ", "The ").replace(" in the garden", " is in the garden") for text in INLINE_POSITIVE]
FILES = ("catalog.csv", "catalog.md", "summary.json", "steering.png", "completeness.png")
COLUMNS = ("latent", "explanation", "score", "frequency", "rate_pos", "rate_neg", "auroc", "p_value", "significant",
           "mass_share", "steer_concept", "steer_markers", "steer_kl", "ablation_firing", "cos_probe", "cos_steering")


def _config() -> str:
    quote = lambda texts: ", ".join(json.dumps(t) for t in texts)  # noqa: E731
    return (f'name = "garden"\ndescription = "questions against statements about a garden"\nreading = "last"\n'
            f"positive_texts = [{quote(INLINE_POSITIVE)}]\nnegative_texts = [{quote(INLINE_NEGATIVE)}]\n"
            f'prompts = ["The garden was", "In the morning the"]\nmarkers = ["?"]\n[settings]\ntop = 6\nalpha = 0.05\n')


@recorded
def _reference_catalog(ref) -> dict:
    import tempfile
    from pathlib import Path

    from saecourse import project

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "garden.toml"
        path.write_text(_config())
        catalog = project.run(project.load_project(path), project.Exercises(ref.discover, ref.completeness),
                              Path(folder) / "out", project.tiny_setup(), progress=False)
        return {"latents": [row["latent"] for row in catalog.rows], "completeness": catalog.summary["completeness"]}


@graded(points=2, timeout=240)
def test_pipeline(sub, ref):
    folder = scratch(sub)
    config = folder / "garden.toml"
    config.write_text(_config())
    boxed = box_module(sub, "saecourse.project")
    out = folder / "garden"
    boxed.run(boxed.load_project(str(config)), boxed.Exercises(sub.discover, sub.completeness), str(out),
              boxed.tiny_setup(), progress=False)
    for name in FILES:
        submitted_file(sub, out / name)
    with open(out / "catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and tuple(rows[0]) == COLUMNS, f"catalog.csv has the columns {COLUMNS}"
    assert len(rows) <= 6, f"settings.top = 6: at most 6 rows, got {len(rows)}"
    aurocs = [float(r["auroc"]) for r in rows]
    assert all(0.5 < a <= 1 for a in aurocs), f"catalogued latents fire more on positives: AUROC in (1/2, 1], got {aurocs}"
    for key in ("rate_pos", "rate_neg", "frequency", "p_value"):
        values = [float(r[key]) for r in rows]
        assert all(0 <= v <= 1 for v in values), f"{key} is a rate or a probability, in [0, 1]: got {values}"
    want = _reference_catalog(ref)
    latents = [int(r["latent"]) for r in rows]
    assert latents == want["latents"], (
        f"the catalogued latents, most significant first: {want['latents']}, got {latents} (discover's z and p rank them)")
    summary = json.loads((out / "summary.json").read_text())
    got = torch.tensor(summary["completeness"]["recovered"])
    expected = torch.tensor(want["completeness"]["recovered"])
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=tol.PROBE_RECOVERED), (
        f"the completeness table: recovered shares {[round(v, 3) for v in expected.tolist()]}, got "
        f"{[round(v, 3) for v in got.tolist()]}")
