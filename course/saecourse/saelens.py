"""SAELens's on-disk format for a standard (ReLU) SAE: a folder with ``cfg.json`` and
``sae_weights.safetensors`` holding ``W_enc [d_in, d_sae]``, ``b_enc [d_sae]``,
``W_dec [d_sae, d_in]`` and ``b_dec [d_in]``. SAELens (``SAE.load_from_disk``), Neuronpedia and
our later parts can all read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .utils import cache_dir, is_smoke

WEIGHTS = "sae_weights.safetensors"
CONFIG = "cfg.json"
TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec")


def write_folder(folder: str | Path, tensors: dict[str, torch.Tensor], cfg: dict) -> Path:
    """Write ``cfg.json`` and ``sae_weights.safetensors`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    missing = set(TENSORS) - set(tensors)
    if missing:
        raise ValueError(f"an SAELens standard SAE needs tensors {TENSORS}; missing {sorted(missing)}")
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().float() for k, v in tensors.items()}, folder / WEIGHTS)
    (folder / CONFIG).write_text(json.dumps(cfg, indent=2))
    return folder


def standard_config(d_in: int, d_sae: int, metadata: dict) -> dict:
    """The ``cfg.json`` of a standard SAE of these sizes, float32 on the CPU, reading raw activations;
    ``metadata`` says where it comes from (model, layer, training configuration)."""
    return {"architecture": "standard", "d_in": d_in, "d_sae": d_sae, "dtype": "float32", "device": "cpu",
            "apply_b_dec_to_input": True, "normalize_activations": "none", "metadata": metadata}


def read_folder(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors and config of an SAE folder written by ``write_folder`` (or by SAELens)."""
    folder = Path(folder)
    if not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder} has no {WEIGHTS}: train and save an SAE first (Part 2)")
    return load_file(folder / WEIGHTS), json.loads((folder / CONFIG).read_text())


def course_folder(model_name: str, layer: int, d_sae: int) -> Path:
    """Where Part 2's notebook saves the SAE it trains (the smoke-size run gets its own folder), and
    where later parts look for it."""
    return cache_dir() / "saes" / f"{model_name}_L{layer}_{d_sae}{'_smoke' if is_smoke() else ''}"
