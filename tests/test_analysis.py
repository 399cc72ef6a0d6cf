"""Projection, diffusion index, semantic sets: closed forms, hand examples and independent loops."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lskd_core.analysis import diffusion, projection
from lskd_core.analysis.clusters import centroids
from reference import eta_loops, mean_pairwise

# ------------------------------------------------------------ projection


def _fc():
    # Templates [w|b] of classes 1, 3, 4 span the axes e0, e1 and the bias axis.
    w = torch.zeros(5, 4, dtype=torch.float64)
    b = torch.zeros(5, dtype=torch.float64)
    w[1, 0], w[3, 1], b[4] = 2.0, 3.0, 5.0
    w[0], b[0] = torch.tensor([1.0, 1.0, 1.0, 1.0]), 7.0  # decoys: other classes' rows
    w[2], b[2] = torch.tensor([0.0, 0.0, 4.0, 0.0]), -1.0
    return w, b


def test_projection_known_answer():
    w, b = _fc()
    q, coords = projection.template_basis(w, b, [1, 3, 4])
    torch.testing.assert_close(q.T @ q, torch.eye(3, dtype=torch.float64))
    # The basis is e0, e1, e_bias (signs fixed by R's positive diagonal).
    expect_q = torch.zeros(5, 3, dtype=torch.float64)
    expect_q[0, 0] = expect_q[1, 1] = expect_q[4, 2] = 1.0
    torch.testing.assert_close(q, expect_q)
    torch.testing.assert_close(coords, torch.diag(torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64)))
    h = torch.tensor([[0.5, -2.0, 9.0, 9.0], [1.0, 1.0, -3.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(projection.project(h, q), torch.tensor([[0.5, -2.0, 1.0], [1.0, 1.0, 1.0]],
                                                                       dtype=torch.float64))
    # The three logits are recovered exactly from the 3-D coordinates.
    logits = h @ w.T + b
    torch.testing.assert_close(projection.project(h, q) @ coords.T, logits[:, [1, 3, 4]])


def test_projection_uses_the_bias_of_the_chosen_classes():
    w, b = _fc()
    right = projection.templates(w, b, [1, 3, 4])
    assert right[-1].tolist() == [0.0, 0.0, 5.0]
    # The official script's bug: weights of the chosen rows, bias of rows 0, 1, 2. Its
    # templates no longer give the model's logits of the chosen classes.
    wrong = torch.cat([w[[1, 3, 4]], b[[0, 1, 2]][:, None]], dim=1).T
    h = torch.tensor([[0.5, -2.0, 9.0, 9.0]], dtype=torch.float64)
    logits = (h @ w.T + b)[:, [1, 3, 4]]
    torch.testing.assert_close(projection.with_ones(h) @ right, logits)
    assert not torch.allclose(projection.with_ones(h) @ wrong, logits)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (6, 8), elements=st.floats(-3, 3)), arrays(np.float64, (6,), elements=st.floats(-3, 3)),
       arrays(np.float64, (10, 8), elements=st.floats(-5, 5)))
def test_projected_logits_equal_the_model_logits(w, b, h):
    w, b, h = map(torch.from_numpy, (w, b, h))
    t = projection.templates(w, b, [0, 2, 5])
    if torch.linalg.matrix_rank(t) < 3:
        return
    q, coords = projection.template_basis(w, b, [0, 2, 5])
    torch.testing.assert_close(projection.project(h, q) @ coords.T, (h @ w.T + b)[:, [0, 2, 5]],
                               rtol=1e-9, atol=1e-9)


def test_plane_coordinates_of_the_templates_form_the_same_triangle():
    tpl = torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 4.0, 0.0]], dtype=torch.float64) + 1.5
    xy = projection.plane_coordinates(tpl, tpl)
    torch.testing.assert_close(torch.cdist(xy, xy), torch.cdist(tpl, tpl))
    torch.testing.assert_close(xy.mean(0), torch.zeros(2, dtype=torch.float64))
    off = projection.plane_coordinates(tpl[:1] + torch.tensor([0.0, 0.0, 7.0]), tpl)  # normal offset vanishes
    torch.testing.assert_close(off, xy[:1])


# ------------------------------------------------------------ diffusion index


def test_eta_hand_computed_example():
    # Target 0 at the origin; class 1 at distance 1, class 2 at 3 (T1). At T2 class 1
    # comes to 0.5, class 2 goes to 3.5. Normalisers: 4 at T1 and 4 at T2.
    c1 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    c2 = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 3.5]])
    d1, d2 = diffusion.centroid_distances(c1, 0), diffusion.centroid_distances(c2, 0)
    # d_T1 = (1/4, 3/4), d_T2 = (0.5/4, 3.5/4): class 1 changes by -50 %, class 2 by +16.67 %.
    assert diffusion.diffusion_index(d1, d2, 0, [1]) == pytest.approx(-50.0)
    assert diffusion.diffusion_index(d1, d2, 0, [2]) == pytest.approx(100 / 6)
    assert diffusion.diffusion_index(d1, d2, 0, [1, 2], percent=False) == pytest.approx((-0.5 + 1 / 6) / 2)
    assert diffusion.systematic(-50.0, 100 / 6) and not diffusion.systematic(1.0, 2.0)


def test_eta_relative_changes_weighted_by_d_t1_sum_to_zero():
    # With N = all classes the relative distances sum to 1 at both T, so the
    # d_T1-weighted relative changes sum to exactly zero.
    g = torch.Generator().manual_seed(0)
    c1, c2 = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    d1, d2 = diffusion.centroid_distances(c1, 3), diffusion.centroid_distances(c2, 3)
    r1 = diffusion.relative_distances(d1, 3)
    others = [k for k in range(7) if k != 3]
    weighted = sum(r1[k].item() * diffusion.diffusion_index(d1, d2, 3, [k], percent=False) for k in others)
    assert weighted == pytest.approx(0.0, abs=1e-12)
    assert r1[others].sum().item() == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (6, 4), elements=st.floats(-10, 10)), arrays(np.float64, (6, 4), elements=st.floats(-10, 10)),
       st.integers(0, 5), st.floats(0.1, 100), st.booleans())
def test_eta_matches_an_independent_loop_and_is_scale_free(c1, c2, target, scale, restrict):
    d1, d2 = np.linalg.norm(c1 - c1[target], axis=1), np.linalg.norm(c2 - c2[target], axis=1)
    others = [k for k in range(6) if k != target]
    norm_set = others[:4] if restrict else others
    if (d1[others] < 1e-3).any() or d2[norm_set].sum() < 1e-3:
        with pytest.raises(ValueError, match="coincide"):
            diffusion.diffusion_index(torch.zeros(6), torch.from_numpy(d2), target, others[:1])
        return
    s = others[:2]
    norm = others[:4] if restrict else None
    got = diffusion.diffusion_index(torch.from_numpy(d1), torch.from_numpy(d2), target, s, norm)
    assert got == pytest.approx(eta_loops(c1, c2, target, s, norm), rel=1e-9, abs=1e-9)
    scaled = diffusion.diffusion_index(torch.from_numpy(d1 * scale), torch.from_numpy(d2), target, s, norm)
    assert scaled == pytest.approx(eta_loops(c1 * scale, c2, target, s, norm), rel=1e-9, abs=1e-9)
    assert got >= -100.0  # a percentage change of a non-negative distance


def test_pairwise_variant_matches_an_independent_computation():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, 3, generator=g, dtype=torch.float64)
    y = torch.arange(30) % 3
    got = diffusion.pairwise_distances(x, y, 0, 3)
    for k in range(3):
        assert got[k].item() == pytest.approx(mean_pairwise(x[y == 0].numpy(), x[y == k].numpy()))
    # Identical clouds: pairwise distance exceeds the centroid distance (Jensen), which is 0.
    assert got[0].item() > 0


def test_eta_rejects_bad_sets():
    d = torch.tensor([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        diffusion.diffusion_index(d, d, 0, [])
    with pytest.raises(ValueError, match="own set"):
        diffusion.diffusion_index(d, d, 0, [0, 1])


def test_chunked_centroids_equal_the_plain_mean():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(1000, 6, generator=g), torch.randint(0, 4, (1000,), generator=g)
    c = centroids(x, y, 4, chunk=37)
    for k in range(4):
        torch.testing.assert_close(c[k], x[y == k].double().mean(0))
    with pytest.raises(ValueError, match="no examples"):
        centroids(x, y, 5)


# ------------------------------------------------------------ WordNet and the semantic sets


@pytest.fixture(scope="module")
def wn():
    from lskd_core.semantics.wordnet import load

    return load()


def test_wordnet_reader_on_known_synsets(wn):
    g = wn["n02099601"]
    assert g.name == "golden_retriever" and [wn[h].name for h in g.hypernyms] == ["retriever"]
    assert wn.path_distance("02099601", "02099712") == 2  # golden and Labrador retrievers are siblings
    assert wn[wn.lowest_common_ancestor("02099601", "01728572")].name == "animal"  # dog vs thunder snake
    assert wn.lookup("golden retriever") == ("02099601",)
    assert len(wn.synsets) == 82115  # WordNet 3.0 noun synsets


def test_wordnet_parser_on_a_line():
    from lskd_core.semantics.wordnet import parse_line

    line = ("02099601 05 n 01 golden_retriever 0 002 @ 02099267 n 0000 ~ 02099000 n 0000 "
            "| an English breed having a long silky golden coat  \n")
    s = parse_line(line)
    assert s.lemmas == ("golden_retriever",) and s.hypernyms == ("02099267",) and s.wnid == "n02099601"
    assert s.gloss.startswith("an English breed")


def test_method1_on_imagenet_retrievers(wn):
    from lskd_core.data import imagenet
    from lskd_core.semantics.sets import method1_sets

    wnids = ["n02099601", "n02099712", "n02099429", "n02099849", "n02099267", "n02100735", "n04347754",
             "n01728572"]  # golden, Labrador, curly-coated, Chesapeake, flat-coated, setter, submarine, snake
    syn = imagenet.synsets(wnids, wn)
    s1, s2 = method1_sets(wn, syn, 0, min_similar=2)
    assert s1 == [1, 2, 3, 4] and s2 == [5, 6, 7]


def test_method1_on_fashion_mnist(wn):
    from lskd_core.data import fashion_mnist
    from lskd_core.data.fashion_mnist import CLASSES
    from lskd_core.semantics.sets import anchor, method1_sets

    syn = fashion_mnist.synsets(CLASSES, wn)
    s1, s2 = method1_sets(wn, syn, CLASSES.index("Sneaker"))
    assert [CLASSES[k] for k in s1] == ["Sandal", "Ankle boot"] and len(s2) == 7
    assert wn[anchor(wn, syn, CLASSES.index("Sneaker"))].name == "footwear"
    with pytest.raises(ValueError, match="min_similar"):
        method1_sets(wn, syn, 0, min_similar=10)


def test_cifar100_and_cub_names_resolve_to_the_right_senses(wn):
    from lskd_core.data import cifar100
    from lskd_core.semantics.sets import cifar100_rule, cub_rule

    names = ["seal", "dolphin", "tiger", "plate", "maple_tree", "sweet_pepper", "cloud"]
    supers = ["aquatic_mammals", "aquatic_mammals", "large_carnivores", "food_containers", "trees",
              "fruit_and_vegetables", "large_natural_outdoor_scenes"]
    syn = cifar100_rule(names, supers, wn)
    animal = "00015388"
    assert all(animal in wn.ancestors(s) for s in syn[:3])
    assert wn[syn[3]].gloss.startswith("dish") and wn[syn[4]].name == "maple"
    # The committed table is the rule's output on WordNet 3.0, row by row, with each synset's own name and gloss.
    table = cifar100.wordnet_table()
    classes = sorted(table)
    assert len(classes) == 100 and len({r["superclass"] for r in table.values()}) == 20
    derived = cifar100_rule(classes, [table[c]["superclass"] for c in classes], wn)
    assert [table[c]["synset"] for c in classes] == ["n" + s for s in derived]
    assert all(wn[s].name == table[c]["name"] and wn[s].gloss.startswith(table[c]["gloss"])
               for c, s in zip(classes, derived))
    assert cifar100.synsets(["seal", "not_a_class"], wn) == [syn[0], None]
    # CUB: the species' synset where WordNet names it, else None (method 2 only).
    birds = cub_rule(["001.Black_footed_Albatross", "002.Laysan_Albatross", "094.White_breasted_Nuthatch"], wn)
    assert birds[1] is None
    assert [wn[b].name for b in (birds[0], birds[2])] == ["black-footed_albatross", "white-breasted_nuthatch"]
    assert all("01503061" in wn.ancestors(b) for b in (birds[0], birds[2]))


def test_method1_leaves_classes_without_a_synset_out(wn):
    from lskd_core.data import imagenet
    from lskd_core.semantics.sets import method1_for

    wnids = ["n02099601", "n02099712", "n02099429", "n04347754", "n01728572"]
    syn = imagenet.synsets(wnids, wn)
    full = method1_for(syn, wnids, min_similar=2, wn=wn)
    syn[1] = None  # Labrador without a synset: neither a target nor in any set
    part = method1_for(syn, wnids, min_similar=1, wn=wn)
    assert 1 not in part and all(1 not in s1 + s2 for s1, s2 in part.values())
    assert full[0] == ([1, 2], [3, 4]) and part[0] == ([2], [3, 4])
    with pytest.raises(ValueError, match="no WordNet synset"):
        method1_for(syn, wnids, targets=[1], wn=wn)


def test_method2_and_agreement():
    from lskd_core.semantics.sets import agreement, method2_sets

    c = torch.tensor([[0.0], [1.0], [2.0], [5.0], [9.0], [-0.5]])
    s1, s2 = method2_sets(c, 0, n_near=2, n_far=2)
    assert s1 == [1, 5] and s2 == [3, 4]
    assert agreement([1, 2], s1) == 0.5 and agreement([3, 4], s2) == 1.0
    with pytest.raises(ValueError):
        method2_sets(c, 0, 3, 3)


# ------------------------------------------------------------ teacher targets (Appendix E, H)


def test_temperature_for_entropy_inverts_the_binary_entropy():
    from lskd_core.analysis.targets import temperature_for_entropy

    # Two classes with logit gap g: p = sigmoid(g / T), H = binary entropy. Invert at T = 2.5.
    g = 3.0
    p = 1 / (1 + math.exp(-g / 2.5))
    h = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    t = temperature_for_entropy(torch.tensor([[g, 0.0]]), h)
    assert t == pytest.approx(2.5, rel=1e-7)
    with pytest.raises(ValueError, match="outside"):
        temperature_for_entropy(torch.tensor([[g, 0.0]]), math.log(2) + 0.1)


def test_second_largest_dominance_counts():
    from lskd_core.analysis.targets import second_largest_dominance

    p = torch.tensor([0.9, 0.05, 0.0004, 0.0006, 0.049])
    second, n, of = second_largest_dominance(p, 0)
    # second = class 1 (0.05); 0.05 >= 100 * 0.0004 yes, >= 100 * 0.0006 no, >= 100 * 0.049 no.
    assert (second, n, of) == (1, 1, 3)


def test_wordnet_is_verified_against_its_manifest(tmp_path):
    import shutil

    from lskd_core.data.errors import DataError
    from lskd_core.semantics.wordnet import verify

    verify()  # the Debian copy matches
    for name in ("data.noun", "index.noun"):
        shutil.copy(f"/usr/share/wordnet/{name}", tmp_path / name)
    with open(tmp_path / "index.noun", "a") as fh:
        fh.write("extra 1\n")
    with pytest.raises(DataError, match="index.noun has sha256"):
        verify(tmp_path)
    (tmp_path / "data.noun").unlink()
    with pytest.raises(DataError, match="missing file"):
        verify(tmp_path)


# ---------------------------------------------------------------- deviations (Nagarajan et al. 2023)


def test_confidences_match_numpy():
    from lskd_core.analysis import deviations as dv

    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(50, 6)) * 3, rng.integers(0, 6, 50)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    zt, yt = torch.from_numpy(z), torch.from_numpy(y)
    np.testing.assert_allclose(dv.label_confidence(zt, yt).numpy(), p[np.arange(50), y], rtol=1e-12)
    np.testing.assert_allclose(dv.confidence(zt, yt, "top").numpy(), p.max(1), rtol=1e-12)
    with pytest.raises(ValueError, match="'label' or 'top'"):
        dv.confidence(zt, yt, "mean")


def test_binned_means_and_low_confidence_gap_match_a_loop():
    from lskd_core.analysis import deviations as dv

    rng = np.random.default_rng(1)
    t = rng.uniform(size=103)
    t[:10] = 0.5  # ties are broken by example order
    s = np.clip(t + rng.normal(scale=0.1, size=103), 0, 1)
    order = sorted(range(103), key=lambda i: (t[i], i))
    bins = [[] for _ in range(7)]
    for rank, i in enumerate(order):
        bins[rank * 7 // 103].append(i)
    tm, sm = dv.binned_means(torch.from_numpy(t), torch.from_numpy(s), 7)
    np.testing.assert_allclose(tm.numpy(), [t[b].mean() for b in bins], rtol=1e-12)
    np.testing.assert_allclose(sm.numpy(), [s[b].mean() for b in bins], rtol=1e-12)
    low = order[:10]  # round(0.1 * 103) = 10 least confident
    assert dv.low_confidence_gap(torch.from_numpy(t), torch.from_numpy(s), 0.1) == pytest.approx(
        float(np.mean(t[low] - s[low])), rel=1e-12)
    with pytest.raises(ValueError):
        dv.rank_bins(torch.from_numpy(t), 0)
