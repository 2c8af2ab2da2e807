"""The SAEs that Parts 3-7 stand on, trained by Part 2's own code (``saecourse.training``, exported
from its notebook) and cached under a key of everything they depend on.

``reference_sae()`` is Part 2's default run (``TrainConfig()`` on 200k cached training tokens of the
default model), trained once, deterministically (fixed seed and thread count), in SAELens's format
in the user cache, and read from there afterwards; the student release ships the trained folder.
``cached_sae`` does the same for any configuration (Part 6's widths, Part 7's concept SAEs).
``make solutions`` trains it only once: Part 2's real run is that run, and ``adopt_solutions_run``
caches it as the reference.

Comparing SAEs (of several widths, or a ReLU SAE with a TopK one) is fair only at comparable
sparsity, and the λ that gives a chosen L0 depends on the width and the training budget.
``calibrate_l1`` finds it from two runs at the same budget: at a fixed budget the final L0 is close
to a power of λ (measured on SmolLM2's layer 15 with 2 epochs of 200k tokens: L0 ∝ λ^-1.37, λ^-1.31
and λ^-1.25 for 1152, 2304 and 4608 latents between λ = 5 and 9), so a straight line through the two
runs in log-log coordinates gives the λ for the target (for L0 47 there: λ 9.90, measured L0 47.0,
and λ 12.28, measured 47.8, on held-out tokens). Steering λ *during* a run does not work at
such budgets: L0 falls for most of training at a fixed λ while the features form, and a controller
that follows it overshoots.

    python -m saecourse.saes [--model NAME] [--layer N]    # train (or find) the reference SAE

It imports ``saecourse.training``, so it shows Part 2's answers too (the grader derives that).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from . import activations, models, saelens, training
from .files import atomic_path
from .training import SAE, TrainConfig
from .utils import cache_dir, is_smoke, set_seed, torch_threads

THREADS = 2  # the thread count every cached SAE is trained with (the summation order depends on it)
REFERENCE_TOKENS = 200_000  # Part 2's training activations
SMOKE_REFERENCE_TOKENS = 4_000  # at smoke size (SAECOURSE_SIZE=smoke): Part 2's smoke-size store, 2 epochs
RELEASE_FOLDER = Path(__file__).parent / "assets" / "reference_sae"  # only in the student release
TRAINING_CODE = ("SAE", "sae_loss", "fold_decoder_norms", "l1_coefficient", "learning_rate", "TrainConfig", "train_sae",
                 "l0_norm", "explained_variance")  # what a trained SAE (and its logged L0) depends on


def reference_run() -> tuple[TrainConfig, int]:
    """Part 2's default run for this run size: its ``TrainConfig`` and the number of training tokens."""
    return (TrainConfig(epochs=2), SMOKE_REFERENCE_TOKENS) if is_smoke() else (TrainConfig(), REFERENCE_TOKENS)


def sae_key(store_path: Path, cfg: TrainConfig, threads: int) -> str:
    """A hash of everything a trained SAE depends on: the activations (their cache file name is a key of
    model, layer, split, corpus and size), the configuration, the thread count and Part 2's training code
    (the source of ``TRAINING_CODE``, not the rest of its notebook)."""
    code = "".join(inspect.getsource(getattr(training, name)) for name in TRAINING_CODE)
    what = {"activations": store_path.name, "config": dataclasses.asdict(cfg), "threads": threads,
            "code": hashlib.sha256(code.encode()).hexdigest()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def trained_folder(cfg: TrainConfig, model_name: str | None = None, layer: int | None = None,
                   n_tokens: int = REFERENCE_TOKENS, threads: int = THREADS) -> Path:
    """Where ``cached_sae`` keeps the SAE of these arguments (it may not exist yet)."""
    store_path = activations.cache_path(model_name, layer, "train", n_tokens)
    return cache_dir() / "saes" / f"trained_{cfg.d_sae}_{sae_key(store_path, cfg, threads)}"


def train_deterministically(acts: Tensor, cfg: TrainConfig, threads: int = THREADS,
                            progress: bool = True) -> tuple[SAE, dict[str, list[float]]]:
    """Part 2's ``SAE`` trained by its ``train_sae`` on ``acts`` ([n, d_in]), seeded by ``cfg.seed`` and with
    ``threads`` threads (the matrix products' summation order depends on them): the same weights every time."""
    with torch_threads(threads):
        set_seed(cfg.seed)
        sae = SAE(acts.shape[1], cfg.d_sae)
        return sae, training.train_sae(sae, acts, cfg, progress)


def cached_sae(cfg: TrainConfig, model_name: str | None = None, layer: int | None = None,
               n_tokens: int = REFERENCE_TOKENS, threads: int = THREADS, progress: bool = True) -> SAE:
    """An SAE trained by Part 2's ``train_sae`` with ``cfg`` on the cached training activations
    (``activations.cached_activations`` with these arguments), trained once, deterministically, and read
    from ``trained_folder`` afterwards: SAELens's format, with the configuration, the final training L0
    and the training time in its ``cfg.json`` metadata."""
    folder = trained_folder(cfg, model_name, layer, n_tokens, threads)
    if not (folder / saelens.WEIGHTS).is_file():
        store = activations.cached_activations(model_name, layer, "train", n_tokens, progress=progress)
        start = time.perf_counter()
        sae, history = train_deterministically(store.acts, cfg, threads, progress)
        metadata = {**store.metadata, "hook_layer": store.metadata["layer"], "train_config": dataclasses.asdict(cfg),
                    "final_l0": history["l0"][-1], "training_tokens": len(store) * cfg.epochs, "threads": threads,
                    "train_seconds": round(time.perf_counter() - start, 1)}
        with atomic_path(folder) as tmp:
            training.save_sae(sae, tmp, metadata)
    return training.load_sae(folder)


def calibrate_l1(cfg: TrainConfig, target_l0: float, l0_of: Callable[[SAE], float],
                 guesses: tuple[float, float] = (5.0, 9.0), **cached: object) -> dict:
    """The λ at which ``cfg`` (its ``l1_coeff`` aside) should reach ``target_l0``: train at both ``guesses``
    (``cached_sae`` with ``cached`` as its other arguments), measure each L0 with ``l0_of`` (on held-out
    activations), and interpolate log L0 linearly in log λ. Returns {"l1_coeff": λ, "runs": [(λ, L0), ...]}."""
    runs = [(l1, l0_of(cached_sae(dataclasses.replace(cfg, l1_coeff=l1), **cached))) for l1 in guesses]
    (l1_a, l0_a), (l1_b, l0_b) = runs
    slope = math.log(l0_b / l0_a) / math.log(l1_b / l1_a)  # d log L0 / d log λ, negative
    return {"l1_coeff": l1_a * math.exp(math.log(target_l0 / l0_a) / slope), "runs": runs}


def reference_folder(model_name: str | None = None, layer: int | None = None) -> Path:
    """Where the reference SAE is cached (it may not exist yet)."""
    cfg, n_tokens = reference_run()
    return trained_folder(cfg, model_name, layer, n_tokens)


def adopt_solutions_run(model_name: str | None = None, layer: int | None = None) -> Path | None:
    """Make the SAE that the solutions' Part 2 notebook trained in its real run the reference SAE, when it is
    the same run: ``reference_run()``'s configuration and tokens, the reference's thread count and
    training activations, and the reference's code (``saecourse.training`` is exported from that notebook,
    which is why only ``grader.execute``, after running ``solutions/``, calls this). Then Parts 6 and 7 read
    it instead of training the same SAE a second time. Returns the reference folder, or None where the saved
    run is another (a smoke run, another thread count) or the reference is already cached."""
    cfg, n_tokens = reference_run()
    target = reference_folder(model_name, layer)
    name = models.resolve_model_name(model_name)
    layer = models.default_layer(name) if layer is None else layer
    source = saelens.course_folder(name, layer, cfg.d_sae)
    if (target / saelens.WEIGHTS).is_file() or not (source / saelens.WEIGHTS).is_file():
        return None
    metadata = json.loads((source / saelens.CONFIG).read_text()).get("metadata", {})
    expected = {"train_config": dataclasses.asdict(cfg), "training_tokens": n_tokens * cfg.epochs, "threads": THREADS,
                "activations": activations.cache_path(name, layer, "train", n_tokens).name}
    if any(metadata.get(key) != value for key, value in expected.items()):
        return None
    with atomic_path(target) as tmp:
        shutil.copytree(source, tmp)
    return target


def reference_sae(model_name: str | None = None, layer: int | None = None, progress: bool = True) -> SAE:
    """Part 2's reference SAE for ``model_name`` at ``layer`` (defaults: the embedded SmolLM2, its
    middle block): from the cache, else from the release, else trained now (about 5 minutes on two cores)."""
    if (not reference_folder(model_name, layer).is_dir() and RELEASE_FOLDER.is_dir()
            and model_name is None and layer is None and not is_smoke()):
        return training.load_sae(RELEASE_FOLDER)
    cfg, n_tokens = reference_run()
    return cached_sae(cfg, model_name, layer, n_tokens, progress=progress)


def course_or_reference(model_name: str, layer: int, d_sae: int = TrainConfig.d_sae) -> tuple[SAE, str]:
    """The SAE you trained in Part 2 (``saelens.course_folder``) if it is there, else the reference
    SAE; and a sentence saying which one it is."""
    own = saelens.course_folder(model_name, layer, d_sae)
    if (own / saelens.WEIGHTS).is_file():
        return training.load_sae(own), f"your Part 2 SAE from {own}"
    return reference_sae(model_name, layer), f"the reference SAE ({reference_folder(model_name, layer)}): no Part 2 SAE at {own}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--layer", type=int)
    args = parser.parse_args()
    start = time.perf_counter()
    sae = reference_sae(args.model, args.layer)
    print(f"reference SAE ({sae.d_sae} latents) at {reference_folder(args.model, args.layer)}, "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
