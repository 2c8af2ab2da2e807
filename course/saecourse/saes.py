"""The SAE that Parts 3-7 stand on, and a small class that holds any standard SAE saved in
SAELens's format.

``reference_sae()`` returns Part 2's reference configuration (``REFERENCE``) trained with Part 2's
reference code on the default model's cached activations. It is trained once, deterministically
(fixed seed, fixed thread count), by ``python -m grader.reference_sae`` in the course repository,
saved in SAELens's format in the user cache under a key of model, layer, corpus and configuration,
and loaded from there afterwards; the student release ships the trained folder instead.

This module reveals Part 2's forward pass (``SAE.encode``), so the grader hides it from a
submission's process while it grades Parts 1 and 2 (``REVEALS``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from . import corpus, models, saelens
from .utils import cache_dir, is_smoke

REVEALS = "part2_training_saes"  # graded parts up to this one must not see this module

# Part 2's default run: the cached training activations and its TrainConfig (a test checks they agree)
REFERENCE = {
    "n_tokens": 200_000, "drop_first_positions": 4, "ctx_len": 128, "threads": 2,
    "train_config": {"d_sae": 2304, "l1_coeff": 7.3, "lr": 2e-3, "batch_size": 1024, "epochs": 8, "max_grad_norm": 1.0,
                     "l1_warmup_frac": 0.05, "lr_decay_frac": 0.2, "seed": 0, "log_every": 25},
}
# At smoke size (SAECOURSE_SIZE=smoke) the same recipe on Part 2's smoke-size store, a few steps: seconds, not minutes
SMOKE_REFERENCE = {**REFERENCE, "n_tokens": 4_000, "train_config": {**REFERENCE["train_config"], "epochs": 2}}
RELEASE_FOLDER = Path(__file__).parent / "assets" / "reference_sae"  # only in the student release


def reference_spec() -> dict:
    """The reference run for this run size: ``REFERENCE``, or ``SMOKE_REFERENCE`` at smoke size."""
    return SMOKE_REFERENCE if is_smoke() else REFERENCE


class SAE(nn.Module):
    """A standard ReLU SAE in SAELens's layout, for reading features (no training code here).

    W_enc: [d_in, d_sae], b_enc: [d_sae], W_dec: [d_sae, d_in], b_dec: [d_in]
    """

    def __init__(self, tensors: dict[str, Tensor], cfg: dict | None = None):
        super().__init__()
        for name in saelens.TENSORS:
            self.register_buffer(name, tensors[name].float())
        self.cfg = cfg or {}

    @property
    def d_sae(self) -> int:
        return self.W_dec.shape[0]

    def encode(self, x: Tensor) -> Tensor:
        """x: [..., d_in] -> codes [..., d_sae]."""
        return F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, z: Tensor) -> Tensor:
        """z: [..., d_sae] -> reconstruction [..., d_in]."""
        return z @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: [..., d_in] -> (reconstruction, codes)."""
        z = self.encode(x)
        return self.decode(z), z


def load(folder: str | Path) -> SAE:
    """Any standard SAE saved in SAELens's format (Part 2's ``save_sae``, SAELens's ``save_model``)."""
    tensors, cfg = saelens.read_folder(folder)
    if cfg.get("architecture", "standard") != "standard":
        raise ValueError(f"{folder} holds a {cfg['architecture']!r} SAE; this class reads standard (ReLU) SAEs only")
    return SAE(tensors, cfg)


def reference_key(model_name: str | None = None, layer: int | None = None) -> str:
    """The cache key of the reference SAE: model, layer, training documents and configuration."""
    name = models.resolve_model_name(model_name)
    layer = models.default_layer(name) if layer is None else layer
    what = json.dumps({"model": name, "layer": layer, "corpus": corpus.documents_hash(corpus.get_split("train")),
                       **reference_spec()}, sort_keys=True)
    return f"{name}_L{layer}_{hashlib.sha256(what.encode()).hexdigest()[:16]}"


def reference_folder(model_name: str | None = None, layer: int | None = None) -> Path:
    """Where the reference SAE is cached (it may not exist yet)."""
    return cache_dir() / "saes" / f"reference_{reference_key(model_name, layer)}"


def reference_sae(model_name: str | None = None, layer: int | None = None) -> SAE:
    """Part 2's reference SAE for ``model_name`` at ``layer`` (defaults: the embedded SmolLM2, its
    middle block): from the cache, else from the release, else trained now (about 5 minutes on
    two cores) when the course repository is here."""
    folder = reference_folder(model_name, layer)
    if not folder.is_dir():
        if RELEASE_FOLDER.is_dir() and model_name is None and layer is None and not is_smoke():
            return load(RELEASE_FOLDER)
        try:
            from grader.reference_sae import build
        except ImportError:
            raise FileNotFoundError(
                f"no reference SAE at {folder}: it is trained in the course repository (`make reference-sae`) and "
                "shipped with the student release; or train your own in Part 2 and load it with saes.load(folder)"
            ) from None
        build(model_name, layer, folder)
    return load(folder)


def course_or_reference(model_name: str, layer: int, d_sae: int = REFERENCE["train_config"]["d_sae"]) -> tuple[SAE, str]:
    """The SAE you trained in Part 2 (``saelens.course_folder``) if it is there, else the reference
    SAE; and a sentence saying which one it is."""
    own = saelens.course_folder(model_name, layer, d_sae)
    if (own / saelens.WEIGHTS).is_file():
        return load(own), f"your Part 2 SAE from {own}"
    return reference_sae(model_name, layer), f"the reference SAE ({reference_folder(model_name, layer)}): no Part 2 SAE at {own}"

