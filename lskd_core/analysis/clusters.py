"""Cluster geometry of penultimate features (Müller et al. 2019, Sec. 3 of the paper)."""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor


def centroids(features: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(K, D) class means ``c_k = mean_{i: y_i = k} h_i``."""
    f = features.double()
    out = torch.zeros(num_classes, f.shape[1], dtype=torch.float64)
    out.index_add_(0, labels, f)
    n = torch.bincount(labels, minlength=num_classes).double().clamp_min(1)
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
