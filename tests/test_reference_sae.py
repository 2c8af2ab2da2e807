"""The reference SAE that Parts 3-7 stand on: Part 2's default configuration, trained deterministically,
readable by the helper package's SAE class exactly as Part 2 computes it."""

from __future__ import annotations

import dataclasses

import torch

from grader.framework import reference
from grader.reference_sae import train
from saecourse import activations, saelens, saes

SMALL = {"d_sae": 256, "l1_coeff": 9.0, "lr": 1e-3, "batch_size": 256, "epochs": 1, "max_grad_norm": 1.0,
         "l1_warmup_frac": 0.05, "lr_decay_frac": 0.2, "seed": 0, "log_every": 25}


def small_store() -> torch.Tensor:
    """The Part 2 smoke run's training activations (4000 SmolLM2 layer-15 tokens)."""
    return activations.cached_activations(None, None, "train", n_tokens=4_000, progress=False).acts


def test_reference_config_is_part2s_default():
    ref = reference("part2_training_saes")
    assert saes.REFERENCE["train_config"] == dataclasses.asdict(ref.TrainConfig()), (
        "saecourse.saes.REFERENCE must describe Part 2's default TrainConfig (update one with the other)")


def test_reference_training_is_deterministic():
    acts = small_store()
    first, second = train(acts, SMALL, threads=2), train(acts, SMALL, threads=2)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), f"{name} differs between two identical runs"


def test_helper_sae_reads_part2s_folder_exactly(tmp_path):
    ref = reference("part2_training_saes")
    acts = small_store()
    sae = train(acts[:1024], {**SMALL, "d_sae": 64}, threads=1)
    folder = ref.save_sae(sae, tmp_path / "sae", {"model_name": "smollm2"})
    loaded = saes.load(folder)
    with torch.no_grad():
        x_hat, z = sae(acts[:256])
        x_hat_loaded, z_loaded = loaded(acts[:256])
    assert torch.equal(z, z_loaded) and torch.equal(x_hat, x_hat_loaded)
    assert loaded.d_sae == 64 and loaded.cfg["metadata"]["model_name"] == "smollm2"


def test_reference_key_names_model_layer_and_config(monkeypatch):
    key = saes.reference_key()
    assert key.startswith("smollm2_L15_")
    monkeypatch.setitem(saes.REFERENCE, "train_config", {**saes.REFERENCE["train_config"], "l1_coeff": 10.0})
    assert saes.reference_key() != key, "a different configuration must give a different cache folder"


def test_smoke_size_has_its_own_small_reference(monkeypatch):
    full = saes.reference_key()
    monkeypatch.setenv("SAECOURSE_SIZE", "smoke")
    assert saes.reference_spec() is saes.SMOKE_REFERENCE and saes.reference_key() != full


def test_notebooks_use_the_students_part2_sae_when_there(tmp_path, monkeypatch):
    ref = reference("part2_training_saes")
    own = train(small_store()[:512], {**SMALL, "d_sae": 2304, "epochs": 1}, threads=1)
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))  # an empty cache: no Part 2 SAE yet
    monkeypatch.setattr(saes, "reference_sae", lambda *a, **k: "the reference")
    sae, which = saes.course_or_reference("smollm2", 15)
    assert sae == "the reference" and "reference SAE" in which
    ref.save_sae(own, saelens.course_folder("smollm2", 15, 2304), {"model_name": "smollm2"})
    sae, which = saes.course_or_reference("smollm2", 15)
    assert isinstance(sae, saes.SAE) and torch.equal(sae.W_dec, own.W_dec.detach()) and "your Part 2 SAE" in which
