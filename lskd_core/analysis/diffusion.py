"""The diffusion index eta (paper Sec. 4, Eq. 1; Tables 3, B.4 and K.1).

For a target class ``pi`` with centroid ``c_pi`` (at temperature T):

    d_T(pi, k) = ||c_pi - c_k|| / sum_{j in N, j != pi} ||c_pi - c_j||

    eta(T1, T2; pi, S) = 100 / |S| * sum_{k in S} (d_T2(pi, k) - d_T1(pi, k)) / d_T1(pi, k)

Decisions where the paper is ambiguous (the book's diffusion chapter argues each):

- ``N``, the classes of the normalising sum: all classes but the target by
  default (``norm_over=None``); any subset may be passed. With all classes,
  the relative distances sum to one at every T, so the changes weighted by
  ``d_T1`` sum to zero: growth towards some classes must be paid for by
  shrinkage towards others.
- Percent: the paper calls eta an "average percentage change", and its
  Table B.4 prints -12.916. As a fraction eta can never fall below -1
  (distances are non-negative), so the printed values are percentages; we
  multiply by 100.
- Space: the full penultimate space by default. The pairwise variant (Table
  K.1) replaces the centroid distance by the mean distance between the
  examples of the two classes.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .clusters import centroids

__all__ = ["centroids", "centroid_distances", "pairwise_distances", "relative_distances", "diffusion_index",
           "systematic"]


def centroid_distances(cents: Tensor, target: int) -> Tensor:
    """(K,) Euclidean distances from the target's centroid to every centroid."""
    return (cents.double() - cents[target].double()).norm(dim=1)


def pairwise_distances(features: Tensor, labels: Tensor, target: int, num_classes: int,
                       max_per_class: int | None = None, seed: int = 0) -> Tensor:
    """(K,) mean Euclidean distance between the target's examples and each class's examples.

    ``max_per_class`` subsamples each class (fixed seed) to bound the cost,
    which grows as n_target x N x D.
    """
    g = torch.Generator().manual_seed(seed)
    keep = []
    for k in range(num_classes):
        idx = torch.nonzero(labels == k).flatten()
        if max_per_class is not None and len(idx) > max_per_class:
            idx = idx[torch.randperm(len(idx), generator=g)[:max_per_class]]
        keep.append(idx)
    a = features[keep[target]].double()
    return torch.stack([torch.cdist(a, features[keep[k]].double()).mean() for k in range(num_classes)])


def relative_distances(dist: Tensor, target: int, norm_over: Sequence[int] | None = None) -> Tensor:
    """(K,) ``d(pi, k) = dist[k] / sum_{j in N, j != pi} dist[j]`` (paper Sec. 4)."""
    k = len(dist)
    norm = [j for j in (range(k) if norm_over is None else norm_over) if j != target]
    if not norm:
        raise ValueError("the normalising set is empty")
    total = dist.double()[norm].sum()
    if not total > 0:
        raise ValueError("every centroid of the normalising set coincides with the target's; d is undefined")
    return dist.double() / total


def diffusion_index(dist_t1: Tensor, dist_t2: Tensor, target: int, classes: Sequence[int],
                    norm_over: Sequence[int] | None = None, percent: bool = True) -> float:
    """eta(T1, T2; pi, S), Eq. 1: the mean relative change of d from T1 to T2 over ``classes``."""
    s = list(classes)
    if not s:
        raise ValueError("the class set S is empty")
    if target in s:
        raise ValueError(f"the target class {target} cannot be in its own set S")
    d1 = relative_distances(dist_t1, target, norm_over)[s]
    d2 = relative_distances(dist_t2, target, norm_over)[s]
    eta = ((d2 - d1) / d1).mean().item()
    return 100.0 * eta if percent else eta


# Three readings of the paper's normaliser, whose set symbol was lost in extraction
# ("... the sum of pairwise distance from [the target] to centroids of all other
# classes in [?]"): every other class, the classes of S1 and S2, or only the set
# being measured. The third makes eta of a one-class set 0 at every T, against
# the paper's own three-class example (eta(S1) < 0 with S1 = {standard_poodle}).
NORMALISERS = {"all": "every other class", "sets": "the classes of S1 and S2", "set": "only the set measured"}


def norm_classes(reading: str, s1: Sequence[int], s2: Sequence[int], measured: Sequence[int]) -> list[int] | None:
    """The classes ``N`` of the normalising sum under one reading (None = every class but the target)."""
    if reading not in NORMALISERS:
        raise ValueError(f"unknown normaliser {reading!r}; valid: {', '.join(NORMALISERS)}")
    return None if reading == "all" else list(s1) + list(s2) if reading == "sets" else list(measured)


def systematic(eta_s1: float, eta_s2: float) -> bool:
    """The paper's signature of systematic diffusion: eta(S1) < 0 < eta(S2)."""
    return eta_s1 < 0.0 < eta_s2
