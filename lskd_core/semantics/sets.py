"""Semantically similar (S1) and dissimilar (S2) class sets (paper Appendix G).

Method 1 (knowledge graph): from WordNet. The *anchor* of a target is its
deepest hypernym ancestor that covers at least ``min_similar`` other classes
of the label set; S1 is the classes under the anchor, S2 every remaining class
(the paper's "remaining classes", whose relative distance should grow).

Method 2 (feature space): S1 is the ``n_near`` classes whose centroids are
nearest the target's centroid, S2 the ``n_far`` farthest (the paper: 10 of 999
and 900 of 999 on ImageNet).

Agreement (Table G.1): the fraction of method 1's set that method 2 also
chose, ``|A1 ∩ A2| / |A1|``.

Class -> synset mappings live with each data set (``lskd_core.data``: a
module's ``synsets``): ImageNet's class folders are wnids, Fashion-MNIST has a
hand table, CIFAR-100 a committed table (``data_manifests/lexicons/
cifar100_wordnet.tsv``, re-derived by ``cifar100_rule``), CUB-200 the species'
synsets where WordNet has them (``cub_rule``). A class without a synset
(``None``) takes part in method 2 only.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .wordnet import ROOT_OFFSET, WordNet

_ANIMAL, _PERSON, _PLANT, _ARTIFACT = "00015388", "00007846", "00017222", "00021939"
_NATURAL = (ROOT_OFFSET,)  # clouds, forests, plains, seas: no single anchor; the first sense is right
_CIFAR_SUPER_ANCHOR = {
    "aquatic_mammals": (_ANIMAL,), "fish": (_ANIMAL,), "insects": (_ANIMAL,), "large_carnivores": (_ANIMAL,),
    "large_omnivores_and_herbivores": (_ANIMAL,), "medium_mammals": (_ANIMAL,),
    "non-insect_invertebrates": (_ANIMAL,), "reptiles": (_ANIMAL,), "small_mammals": (_ANIMAL,),
    "people": (_PERSON,), "flowers": (_PLANT,), "trees": (_PLANT,),
    "fruit_and_vegetables": ("13134947", "07707451", _PLANT, "13086908"),  # fruit, vegetable, plant, plant part
    "food_containers": (_ARTIFACT,), "household_electrical_devices": (_ARTIFACT,),
    "household_furniture": (_ARTIFACT,), "large_man-made_outdoor_things": (_ARTIFACT,),
    "vehicles_1": (_ARTIFACT,), "vehicles_2": (_ARTIFACT,), "large_natural_outdoor_scenes": _NATURAL,
}
# CIFAR names WordNet spells otherwise.
_CIFAR_ALIASES = {"aquarium_fish": "goldfish", "maple_tree": "maple", "oak_tree": "oak", "palm_tree": "palm",
                  "pine_tree": "pine", "willow_tree": "willow"}
# Where the rule picks a wrong sense: (the first animal sense of "dolphin" is the
# dolphinfish, of "plate" the baseball base, of "television" the broadcasting).
_CIFAR_OVERRIDES = {"dolphin": "02068974", "castle": "02980441", "plate": "03959485",
                    "television": "04405907"}
_BIRD = "01503061"


def resolve(wn: WordNet, name: str, within: Sequence[str]) -> str:
    """The most frequent noun sense of ``name`` that descends from one of ``within``."""
    for off in wn.lookup(name):
        if set(wn.ancestors(off)) & set(within):
            return off
    raise KeyError(f"WordNet has no sense of {name!r} under {[wn[w].name for w in within]}")


def cifar100_rule(classes: Sequence[str], superclasses: Sequence[str], wn: WordNet) -> list[str]:
    """The rule behind the committed CIFAR-100 table: the most frequent sense of each name under its superclass's
    anchor, with WordNet's spelling where CIFAR's differs and four senses set by hand."""
    return [_CIFAR_OVERRIDES.get(c) or resolve(wn, _CIFAR_ALIASES.get(c, c), _CIFAR_SUPER_ANCHOR[s])
            for c, s in zip(classes, superclasses)]


def cub_rule(classes: Sequence[str], wn: WordNet) -> list[str | None]:
    """CUB-200 folder names (``001.Black_footed_Albatross``) -> the species' synset under bird, else None.

    WordNet 3.0 names a minority of CUB's species; the others have no synset of
    their own and take part in method 2 (feature space) only.
    """
    out: list[str | None] = []
    for c in classes:
        species = c.split(".", 1)[-1].lower()
        found = None
        for spelling in (species.replace("_", "-", 1), species):
            try:
                found = resolve(wn, spelling, (_BIRD,))
                break
            except KeyError:
                continue
        out.append(found)
    return out


def anchor(wn: WordNet, synsets: Sequence[str | None], target: int, min_similar: int = 2) -> str:
    """The target's deepest ancestor that covers at least ``min_similar`` other classes (those with a synset)."""
    others = [s for k, s in enumerate(synsets) if k != target and s is not None]
    if min_similar < 1 or min_similar > len(others):
        raise ValueError(f"min_similar must lie in [1, {len(others)}], got {min_similar}")
    ups = wn.ancestors(synsets[target])
    covered = {a: sum(a in wn.ancestors(s) for s in others) for a in ups}
    ok = [a for a in ups if covered[a] >= min_similar]
    return min(ok, key=lambda a: (ups[a], a))


def method1_sets(wn: WordNet, synsets: Sequence[str | None], target: int,
                 min_similar: int = 2) -> tuple[list[int], list[int]]:
    """S1 = classes under the target's anchor; S2 = all other classes with a synset (target excluded)."""
    a = anchor(wn, synsets, target, min_similar)
    known = [k for k, s in enumerate(synsets) if k != target and s is not None]
    s1 = [k for k in known if a in wn.ancestors(synsets[k])]
    s2 = [k for k in known if k not in s1]
    return s1, s2


def method2_sets(centroids: Tensor, target: int, n_near: int, n_far: int) -> tuple[list[int], list[int]]:
    """S1 = the ``n_near`` nearest centroids, S2 = the ``n_far`` farthest (Euclidean, target excluded)."""
    k = centroids.shape[0]
    if not (1 <= n_near and 1 <= n_far and n_near + n_far <= k - 1):
        raise ValueError(f"need 1 <= n_near, 1 <= n_far and n_near + n_far <= {k - 1}; got {n_near}, {n_far}")
    d = (centroids.double() - centroids[target].double()).norm(dim=1)
    order = [int(i) for i in torch.argsort(d, stable=True) if int(i) != target]
    return sorted(order[:n_near]), sorted(order[-n_far:])


def agreement(reference: Sequence[int], other: Sequence[int]) -> float:
    """Share of ``reference`` (method 1's set) that ``other`` (method 2's) also contains."""
    if not reference:
        raise ValueError("the reference set is empty")
    return len(set(reference) & set(other)) / len(set(reference))


def method1_for(synsets: Sequence[str | None], names: Sequence[str], targets: Sequence[int] | None = None,
                min_similar: int = 2, wn: WordNet | None = None) -> dict[int, tuple[list[int], list[int]]]:
    """Method-1 sets for several targets. ``targets=None`` takes every class with a synset whose S1 and S2 are
    both non-empty; an empty dict means WordNet cannot split this label set (the chapters say so)."""
    from .wordnet import load

    wn = wn or load()
    out = {}
    for t in range(len(synsets)) if targets is None else targets:
        if synsets[t] is None:
            if targets is not None:
                raise ValueError(f"{names[t]!r} has no WordNet synset; it takes part in method 2 only")
            continue
        if min_similar > sum(s is not None for k, s in enumerate(synsets) if k != t):
            if targets is not None:
                raise ValueError(f"min_similar={min_similar} exceeds the other classes with a synset")
            continue
        s1, s2 = method1_sets(wn, synsets, t, min_similar)
        if s1 and s2:
            out[t] = (s1, s2)
        elif targets is not None:
            raise ValueError(f"{names[t]!r}: WordNet puts every other class under the same anchor, so S2 is "
                             f"empty; choose another target or give the sets explicitly")
    return out
