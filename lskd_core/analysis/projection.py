"""The penultimate-layer view of Müller et al. (2019), used in the paper's Figure 1 and A.1-A.5.

Class k's *template* is its row of the final layer with the bias appended,
``t_k = [w_k | b_k]`` in R^{D+1}; a feature ``h`` becomes ``[h | 1]`` so that
its logit is ``<[h | 1], t_k>``. For three chosen classes (a target, a similar
and a dissimilar one) the span of their templates is 3-D; a QR factorisation
``[t_a t_b t_c] = Q R`` gives an orthonormal basis ``Q`` and the coordinates
``[h | 1] Q``. The logits of the three classes depend on ``h`` only through
these coordinates, which is what makes the view faithful.

For a 2-D figure the coordinates are expressed in the plane through the
three template points (Müller et al.'s "plane crossing the templates"). The
official script instead fits a PCA to the 3-D coordinates, and builds the
templates with the bias of classes 0, 1, 2 instead of the chosen classes
(see the errata chapter); here the weight and the bias come from the same rows.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def templates(weight: Tensor, bias: Tensor, classes: Sequence[int]) -> Tensor:
    """(D+1, m) matrix whose columns are ``[w_k | b_k]`` for ``k`` in ``classes`` (same rows for both)."""
    idx = torch.as_tensor(list(classes))
    return torch.cat([weight[idx].double(), bias[idx].double()[:, None]], dim=1).T


def template_basis(weight: Tensor, bias: Tensor, classes: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Orthonormal basis ``Q`` (D+1, 3) of the templates' span and the templates' coordinates (3, 3).

    Signs are fixed so that ``R`` has a non-negative diagonal, which makes the
    basis unique: the first axis points along the first class's template.
    """
    t = templates(weight, bias, classes)
    q, r = torch.linalg.qr(t)
    sign = torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(q.dtype)
    q, r = q * sign, r * sign[:, None]
    return q, r.T  # row i of r.T = coordinates of template i in the basis


def with_ones(features: Tensor) -> Tensor:
    return torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], dim=1)


def project(features: Tensor, basis: Tensor) -> Tensor:
    """(N, 3) coordinates ``[h | 1] Q`` of features (or centroids) in the templates' span."""
    return with_ones(features) @ basis


def plane_coordinates(points: Tensor, template_coords: Tensor) -> Tensor:
    """(N, 2) coordinates in the plane through the three template points.

    Origin: the templates' mean. First axis: from template 0 towards
    template 1; second axis: the component of template 2 orthogonal to it.
    Points off the plane are projected onto it orthogonally.
    """
    t0, t1, t2 = template_coords.double()
    e1 = (t1 - t0) / (t1 - t0).norm()
    v = (t2 - t0) - ((t2 - t0) @ e1) * e1
    e2 = v / v.norm()
    centred = points.double() - template_coords.double().mean(dim=0)
    return torch.stack([centred @ e1, centred @ e2], dim=1)
