"""Independent float64 NumPy references for the losses (no torch involved)."""

import numpy as np


def softmax(z, t=1.0):
    z = np.asarray(z, dtype=np.float64) / t
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z, t=1.0):
    z = np.asarray(z, dtype=np.float64) / t
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def ls_ce(z, y, alpha):
    n, k = z.shape
    target = np.full((n, k), alpha / k)
    target[np.arange(n), y] += 1 - alpha
    return float(-(target * log_softmax(z)).sum(axis=1).mean())


def kd(zs, zt, t, y=None, beta=0.0):
    pt = softmax(zt, t)
    kl = (pt * (log_softmax(zt, t) - log_softmax(zs, t))).sum(axis=1).mean()
    loss = (1 - beta) * t * t * kl
    if beta:
        loss += beta * ls_ce(zs, y, 0.0)
    return float(loss)


def entropy(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=-1)


def eta_loops(c1, c2, target, s, norm=None, percent=True):
    """Eq. 1 of the paper written with plain Python loops over NumPy centroids."""
    k = len(c1)
    norm = [j for j in (range(k) if norm is None else norm) if j != target]

    def rel(c, j):
        return np.linalg.norm(c[target] - c[j]) / sum(np.linalg.norm(c[target] - c[i]) for i in norm)

    changes = [(rel(c2, j) - rel(c1, j)) / rel(c1, j) for j in s]
    return (100.0 if percent else 1.0) * sum(changes) / len(changes)


def mean_pairwise(a, b):
    return float(np.mean([[np.linalg.norm(x - y) for y in b] for x in a]))
