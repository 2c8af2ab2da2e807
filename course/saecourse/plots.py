"""Plots shared by the notebooks. Each returns a matplotlib Figure; save it with ``utils.save_figure``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor


def features_in_2d(W: Tensor, titles: list[str] | None = None, cols: int = 4) -> plt.Figure:
    """Draw every instance's feature vectors as arrows in its 2-D hidden space.

    W: [inst, 2, feat]. Colour encodes the feature index, so the same feature is the same
    colour in every panel.
    """
    W = W.detach().cpu()
    n_inst, d_hidden, n_feat = W.shape
    assert d_hidden == 2, "features_in_2d needs a 2-dimensional hidden space"
    rows = -(-n_inst // cols)
    fig, axes = plt.subplots(rows, min(cols, n_inst), figsize=(2.6 * min(cols, n_inst), 2.6 * rows), squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 1, n_feat))
    lim = max(1.2, float(W.norm(dim=1).max()) * 1.15)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n_inst:
            continue
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.8), ax.axvline(0, color="0.85", lw=0.8)
        for f in range(n_feat):
            x, y = W[i, :, f].tolist()
            ax.plot([0, x], [0, y], color=colours[f], lw=2)
            ax.scatter([x], [y], color=colours[f], s=20, zorder=3)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def gram_heatmaps(W: Tensor, titles: list[str] | None = None, cols: int = 4) -> plt.Figure:
    """Heatmap of WᵀW for each instance: diagonal = how strongly a feature is represented,
    off-diagonal = interference between two features. W: [inst, hidden, feat]."""
    gram = torch.einsum("ihf,ihg->ifg", W.detach().cpu(), W.detach().cpu())
    n_inst = gram.shape[0]
    rows = -(-n_inst // cols)
    fig, axes = plt.subplots(rows, min(cols, n_inst), figsize=(2.6 * min(cols, n_inst), 2.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n_inst:
            continue
        image = ax.imshow(gram[i], cmap="RdBu", vmin=-1, vmax=1)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    return fig


def loss_curves(losses: Tensor, labels: list[str] | None = None, title: str = "training loss") -> plt.Figure:
    """Per-instance loss curves on a log scale. losses: [steps, inst]."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i in range(losses.shape[1]):
        ax.plot(losses[:, i].cpu(), lw=1, label=labels[i] if labels else None)
    ax.set_yscale("log"), ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title(title)
    if labels:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def dimensionality_scatter(D: Tensor, feature_probability: Tensor, dims_per_feature: Tensor) -> plt.Figure:
    """Elhage et al.'s dimensionality plot: each dot is a feature at x = 1/p, y = its
    dimensionality D; the black line is each instance's dimensions per feature m / ‖W‖_F².
    Features stick at 1, 1/2, 2/5, 1/3: the dashed lines (digon, triangle, pentagon, ...).

    D: [inst, feat]; feature_probability, dims_per_feature: [inst] (one p per instance).
    """
    fig, ax = plt.subplots(figsize=(6, 3.5))
    inv_p = (1 / feature_probability).cpu()
    for level in (1, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8, 1 / 3):
        ax.axhline(level, color="0.85", lw=0.8, ls="--")
    ax.scatter(inv_p.repeat_interleave(D.shape[1]), D.flatten().cpu(), s=6, alpha=0.3, color="C0", label="features")
    ax.plot(inv_p, dims_per_feature.cpu(), color="k", lw=1.5, label="dimensions per feature")
    ax.set_xscale("log"), ax.set_xlabel("1 / feature probability"), ax.set_ylabel("dimensionality")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
