"""saecourse.claims: a claim prints with its figures, fails a full run when false, and only warns at smoke size."""

from __future__ import annotations

import pytest
import torch

from saecourse.claims import CHECKED, ClaimFailed, expect


def test_a_true_claim_prints_its_figures(capsys, monkeypatch):
    monkeypatch.delenv("SAECOURSE_SIZE", raising=False)
    expect(torch.tensor(0.38) < 2.3, "neighbours cost less", neighbours=torch.tensor(0.38), non_neighbours=2.3046)
    assert capsys.readouterr().out == "✓ neighbours cost less (neighbours 0.38, non_neighbours 2.3)\n"
    assert CHECKED[-1].held and CHECKED[-1].statement == "neighbours cost less"


def test_a_false_claim_fails_a_full_run_and_names_itself(monkeypatch):
    monkeypatch.delenv("SAECOURSE_SIZE", raising=False)
    monkeypatch.delenv("SAECOURSE_CLAIMS", raising=False)
    with pytest.raises(ClaimFailed, match=r"✗ EV above 0.8 \(ev 0.75\)"):
        expect(0.75 > 0.8, "EV above 0.8", ev=0.75)


@pytest.mark.parametrize("setting", [{"SAECOURSE_SIZE": "smoke"}, {"SAECOURSE_CLAIMS": "warn"}])
def test_a_false_claim_only_warns_at_smoke_size_or_when_asked(setting, monkeypatch, capsys):
    monkeypatch.delenv("SAECOURSE_SIZE", raising=False)
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    expect(False, "SAE latents score above random directions", sae=0.1, random=0.2)
    assert not CHECKED[-1].held
    out = capsys.readouterr().out
    assert out.startswith("✗ SAE latents score above random directions (sae 0.1, random 0.2)") and "not true in this run" in out


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.delenv("SAECOURSE_SIZE", raising=False)
    monkeypatch.setenv("SAECOURSE_CLAIMS", "ignore")
    with pytest.raises(ValueError, match="SAECOURSE_CLAIMS"):
        expect(False, "anything")
