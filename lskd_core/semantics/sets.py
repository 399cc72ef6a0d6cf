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

Class → synset mappings:
- ImageNet: the class folder is the wnid.
- Fashion-MNIST: a hand mapping below, each checked against its gloss.
- CIFAR-100: the first WordNet sense of the class name that lies under the
  anchor of its CIFAR superclass (so "seal" is the animal, not the fastener).
- CUB-200: the species name, else its last word (the bird family), under bird.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .wordnet import ROOT_OFFSET, WordNet

FASHION_MNIST_SYNSETS = {
    "T-shirt/top": "03595614",  # jersey, T-shirt, tee shirt
    "Trouser": "04489008",      # trouser, pant
    "Pullover": "04021028",     # pullover, slipover
    "Dress": "03236735",        # dress, frock
    "Coat": "03057021",         # coat
    "Sandal": "04133789",       # sandal
    "Shirt": "04197391",        # shirt
    "Sneaker": "03472535",      # gym shoe, sneaker, tennis shoe
    "Bag": "02774152",          # bag, handbag, pocketbook, purse
    "Ankle boot": "02872752",   # boot: footwear that covers the whole foot and lower leg
}

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


def class_synsets(dataset: str, classes: Sequence[str], wn: WordNet,
                  superclasses: Sequence[str] | None = None) -> list[str]:
    """WordNet offsets for a data set's classes, in class-index order."""
    if dataset == "fashion_mnist":
        return [FASHION_MNIST_SYNSETS[c] for c in classes]
    if dataset == "imagenet1k":
        return [wn[c].offset for c in classes]
    if dataset == "cifar100":
        if superclasses is None:
            raise ValueError("CIFAR-100 needs each class's superclass name to pick the right sense")
        return [_CIFAR_OVERRIDES.get(c) or resolve(wn, _CIFAR_ALIASES.get(c, c), _CIFAR_SUPER_ANCHOR[s])
                for c, s in zip(classes, superclasses)]
    if dataset == "cub200":
        out = []
        for c in classes:
            species = c.split(".", 1)[-1].lower()
            try:
                out.append(resolve(wn, species.replace("_", "-", 1), (_BIRD,)))
            except KeyError:
                try:
                    out.append(resolve(wn, species, (_BIRD,)))
                except KeyError:
                    out.append(resolve(wn, species.split("_")[-1], (_BIRD,)))
        return out
    raise ValueError(f"no synset mapping for {dataset!r}")


def anchor(wn: WordNet, synsets: Sequence[str], target: int, min_similar: int = 2) -> str:
    """The target's deepest ancestor that covers at least ``min_similar`` other classes."""
    others = [s for k, s in enumerate(synsets) if k != target]
    if min_similar < 1 or min_similar > len(others):
        raise ValueError(f"min_similar must lie in [1, {len(others)}], got {min_similar}")
    ups = wn.ancestors(synsets[target])
    covered = {a: sum(a in wn.ancestors(s) for s in others) for a in ups}
    ok = [a for a in ups if covered[a] >= min_similar]
    return min(ok, key=lambda a: (ups[a], a))


def method1_sets(wn: WordNet, synsets: Sequence[str], target: int,
                 min_similar: int = 2) -> tuple[list[int], list[int]]:
    """S1 = classes under the target's anchor; S2 = all other classes (target excluded)."""
    a = anchor(wn, synsets, target, min_similar)
    s1 = [k for k, s in enumerate(synsets) if k != target and a in wn.ancestors(s)]
    s2 = [k for k in range(len(synsets)) if k != target and k not in s1]
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


def method1_for(dataset: str, classes: Sequence[str], targets: Sequence[int] | None = None, min_similar: int = 2,
                superclasses: Sequence[str] | None = None, wn: WordNet | None = None) -> dict[int, tuple[list[int], list[int]]]:
    """Method-1 sets for several targets. ``targets=None`` takes every class whose S1 and S2 are both non-empty."""
    from .wordnet import load

    wn = wn or load()
    syn = class_synsets(dataset, classes, wn, superclasses)
    out = {}
    for t in range(len(classes)) if targets is None else targets:
        s1, s2 = method1_sets(wn, syn, t, min_similar)
        if s1 and s2:
            out[t] = (s1, s2)
        elif targets is not None:
            raise ValueError(f"{classes[t]!r}: WordNet puts every other class under the same anchor, so S2 is "
                             f"empty; choose another target or give the sets explicitly")
    return out
