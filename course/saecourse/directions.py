"""Comparing sets of directions: which true feature does some learnt direction match, and how well.

Used to score an SAE against known features (Parts 1 and 2) and to match decoder directions
across SAEs (feature splitting).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def best_match_cosine(directions: Tensor, candidates: Tensor) -> Tensor:
    """For each of ``directions``, its largest cosine similarity with any of ``candidates``.

    directions: [..., n, d]; candidates: [..., m, d] (same leading dims, e.g. instances)
    returns:    [..., n]
    """
    cosine = F.normalize(directions, dim=-1) @ F.normalize(candidates, dim=-1).transpose(-1, -2)  # [..., n, m]
    return cosine.max(-1).values
