"""The reference SAE that Parts 3-7 stand on: Part 2's default run, trained by Part 2's exported code,
cached under its content key, and read back exactly as Part 2 saved it."""

from __future__ import annotations

import dataclasses

import torch

from saecourse import activations, saelens, saes, training
from saecourse.utils import set_seed, torch_threads


def small_run(n: int = 1024, d_sae: int = 64) -> tuple[torch.Tensor, training.SAE]:
    acts = torch.randn(n, 32, generator=torch.Generator().manual_seed(0)) + 1.0
    cfg = training.TrainConfig(d_sae=d_sae, l1_coeff=0.5, batch_size=256, epochs=1)
    return acts, saes.train_deterministically(acts, cfg, threads=1, progress=False)[0]


def test_a_saved_sae_reads_back_exactly(tmp_path):
    acts, sae = small_run()
    folder = training.save_sae(sae, tmp_path / "sae", {"model_name": "smollm2"})
    loaded = training.load_sae(folder)
    with torch.no_grad():
        x_hat, z = sae(acts[:256])
        x_hat_loaded, z_loaded = loaded(acts[:256])
    assert torch.equal(z, z_loaded) and torch.equal(x_hat, x_hat_loaded)
    assert loaded.d_sae == 64 and loaded.cfg["metadata"]["model_name"] == "smollm2"


def test_the_reference_folder_names_the_run(monkeypatch):
    folder = saes.reference_folder()
    assert folder.name.startswith(f"trained_{training.TrainConfig().d_sae}_")
    assert saes.reference_folder(layer=14) != folder, "another layer is another SAE"
    monkeypatch.setattr(saes, "reference_run", lambda: (training.TrainConfig(l1_coeff=10.0), saes.REFERENCE_TOKENS))
    assert saes.reference_folder() != folder, "a different configuration must give a different cache folder"


def test_smoke_size_has_its_own_small_reference(monkeypatch):
    full = saes.reference_folder()
    monkeypatch.setenv("SAECOURSE_SIZE", "smoke")
    assert saes.reference_run()[1] == saes.SMOKE_REFERENCE_TOKENS and saes.reference_folder() != full


def test_notebooks_use_the_students_part2_sae_when_there(tmp_path, monkeypatch):
    _, own = small_run(512, 2304)
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))  # an empty cache: no Part 2 SAE yet
    monkeypatch.setattr(saes, "reference_sae", lambda *a, **k: "the reference")
    sae, which = saes.course_or_reference("smollm2", 15)
    assert sae == "the reference" and "reference SAE" in which
    training.save_sae(own, saelens.course_folder("smollm2", 15, 2304), {"model_name": "smollm2"})
    sae, which = saes.course_or_reference("smollm2", 15)
    assert isinstance(sae, training.SAE) and torch.equal(sae.W_dec, own.W_dec.detach()) and "your Part 2 SAE" in which


def test_part2s_real_run_is_adopted_as_the_reference_only_when_it_is_that_run(tmp_path, monkeypatch):
    """``make solutions`` trains the reference SAE once: Part 2's real run, done as its notebook does it
    (seed, then ``SAE``, then ``train_sae``, at the reference's thread count), has the reference's exact
    weights, and ``adopt_solutions_run`` takes it only with the reference's configuration, data and threads."""
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))
    cfg, n = training.TrainConfig(d_sae=64, l1_coeff=0.5, batch_size=256, epochs=1), 1024
    monkeypatch.setattr(saes, "reference_run", lambda: (cfg, n))
    acts = torch.randn(n, 32, generator=torch.Generator().manual_seed(0)) + 1.0
    with torch_threads(saes.THREADS):
        set_seed(cfg.seed)
        notebook_sae = training.SAE(32, cfg.d_sae)
        history = training.train_sae(notebook_sae, acts, cfg, progress=False)
    reference, _ = saes.train_deterministically(acts, cfg, progress=False)
    assert all(torch.equal(getattr(notebook_sae, name), getattr(reference, name)) for name in saelens.TENSORS)

    folder = saelens.course_folder("smollm2", 15, cfg.d_sae)
    metadata = {"train_config": dataclasses.asdict(cfg), "training_tokens": n * cfg.epochs, "threads": saes.THREADS,
                "activations": activations.cache_path("smollm2", 15, "train", n).name, "final_l0": history["l0"][-1]}
    for wrong in ({"threads": 1}, {"training_tokens": 2 * n}, {"activations": "another.safetensors"}):
        training.save_sae(notebook_sae, folder, {**metadata, **wrong})
        assert saes.adopt_solutions_run("smollm2", 15) is None, f"adopted a run with {wrong}"
    training.save_sae(notebook_sae, folder, metadata)
    adopted = saes.adopt_solutions_run("smollm2", 15)
    assert adopted == saes.reference_folder("smollm2", 15)
    assert torch.equal(saes.reference_sae("smollm2", 15).W_dec, reference.W_dec)
    assert saes.adopt_solutions_run("smollm2", 15) is None, "the reference is cached now: nothing to adopt"
