"""Cluster geometry of penultimate features (Müller et al. 2019, Sec. 3 of the paper)."""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor


def centroids(features: Tensor, labels: Tensor, num_classes: int, chunk: int = 1 << 16) -> Tensor:
    """(K, D) float64 class means ``c_k = mean_{i: y_i = k} h_i``.

    Accumulated in chunks so that ImageNet-sized feature sets never need a
    float64 copy of the whole matrix.
    """
    out = torch.zeros(num_classes, features.shape[1], dtype=torch.float64)
    for s in range(0, len(features), chunk):
        out.index_add_(0, labels[s: s + chunk], features[s: s + chunk].double())
    n = torch.bincount(labels, minlength=num_classes).double()
    if (n == 0).any():
        empty = torch.nonzero(n == 0).flatten().tolist()
        raise ValueError(f"classes {empty[:10]} have no examples; their centroids are undefined")
    return out / n[:, None]


def tightness(features: Tensor, labels: Tensor, num_classes: int) -> pd.DataFrame:
    """Per class: mean distance of its examples to their centroid, divided by the
    mean distance from that centroid to the other centroids. Smaller = tighter,
    better separated cluster; the ratio is scale-free, so models compare."""
    c = centroids(features, labels, num_classes)
    spread = (features.double() - c[labels]).norm(dim=1)
    between = torch.cdist(c, c)
    rows = []
    for k in range(num_classes):
        own = spread[labels == k].mean().item()
        other = between[k][torch.arange(num_classes) != k].mean().item()
        rows.append({"class": k, "within": own, "between": other, "ratio": own / other})
    return pd.DataFrame(rows)
