"""High-level calls the chapters make, so notebooks stay thin."""

from __future__ import annotations

import platform

import numpy as np
import pandas as pd
import torch

from .cache import Run
from .profiles import DoesNotApply, Profile, get_profile, student_config, teacher_config  # noqa: F401
from .config import TrainConfig
from .data.batching import load_data
from .loop import evaluated_epochs, predict
from .train import load_model, train_students, train_teacher


def begin(ns: dict, seeds: str = "seeds", temperatures: str = "temperatures") -> Profile:
    """A chapter's one opening, called with its ``globals()`` right after the parameters cell.

    It reads the parameters as values (plain papermill passes ``"[1, 2]"`` as a string), checks
    each once by its rule (``params.RULES``, and the rules that relate two parameters), resolves
    the profile (scaled, pointed at its data), checks that the profile has what the chapter's
    front matter says it needs (``lskd: needs:``, passed by the executor), and sets up the book's
    determinism and style. In ``ns`` it sets ``profile`` to the profile's name (``"<name>@<scale>"``
    when scaled, so its records stay apart), ``seeds`` and ``temperatures`` given as None to the
    profile's own, and ``prof``. Returns the profile. ``seeds`` and ``temperatures`` name the
    profile's attribute that stands for None: a chapter beyond the grid takes ``extension_seeds``,
    translation ``nmt_temperatures``.
    """
    import json
    import os

    from .params import RULES, accept, validate
    from .records import CHAPTER_DEFAULTS_ENV, CHAPTER_NEEDS_ENV

    accept(ns)
    declared = json.loads(os.environ.get(CHAPTER_DEFAULTS_ENV) or "{}") or {k: None for k in RULES if k in ns}
    validate({k: ns[k] for k in declared if k in ns})
    prof = profile(ns.get("profile", "tiny"), ns.get("scale"), ns.get("data_root"))
    for need in json.loads(os.environ.get(CHAPTER_NEEDS_ENV) or "[]"):
        prof.require(need)
    ns["profile"] = prof.name
    for name, own in (("seeds", getattr(prof, seeds) or prof.seeds), ("temperatures", getattr(prof, temperatures))):
        if name in ns and ns[name] is None:
            # 1, not 1.0: the chapters label temperatures as the defaults wrote them
            ns[name] = [int(t) if float(t).is_integer() else float(t) for t in own]
    ns["prof"] = prof
    setup()
    return prof


def setup(num_threads: int | None = None) -> None:
    """Deterministic CPU kernels, a fixed thread count and the book's one figure style, for every chapter."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if num_threads:
        torch.set_num_threads(num_threads)
    import seaborn as sns

    # One theme and palette across the book; fonts sized for a page column.
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.9,
                  rc={"figure.dpi": 100, "legend.frameon": True, "legend.fontsize": 8})
    from .tables import use_for_dataframes

    use_for_dataframes()  # every table a chapter displays, in the book's one table style


def profile(name: str, scale: str | None = None, data_root: str | None = None) -> Profile:
    """The chapter's profile, pointed at ``data_root`` and shrunk to ``scale`` (``profiles.get_profile``)."""
    return get_profile(name, scale=scale, data_root=data_root)


def class_names(profile: Profile | str) -> tuple[str, ...]:
    """The class names of a profile's data set, in label order (chapters never name one data set's list)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return prof.classes()


def semantic_sets(profile: Profile | str, targets=None, min_similar: int = 2) -> dict[int, tuple[list, list]]:
    """WordNet method-1 sets S1/S2 of the profile's classes (``targets`` by name; None = all that have both).

    An empty result means WordNet cannot split this label set at ``min_similar``;
    ``sets_missing`` says why in words.
    """
    from .semantics.sets import method1_for

    prof = get_profile(profile) if isinstance(profile, str) else profile
    names = class_names(prof)
    idx = None if targets is None else [names.index(c) for c in targets]
    return method1_for(prof.synsets(), names, idx, min_similar)


def sets_missing(profile: Profile, min_similar: int) -> str:
    """Why a profile's classes give no WordNet target with both S1 and S2 non-empty, in words."""
    names, syn = class_names(profile), profile.synsets()
    named = sum(s is not None for s in syn)
    what = (f"WordNet's method-1 sets need a target with at least {min_similar} similar classes (S1) and at least "
            f"one other (S2). Of the {len(names)} classes of {profile.dataset} here, {named} "
            f"{'has' if named == 1 else 'have'} a WordNet synset")
    if named < min_similar + 2:
        return f"{what}: too few for that. Method-2 (feature-space) sets do not depend on WordNet."
    return (f"{what}, and for every target the deepest ancestor covering {min_similar} of them covers them all, "
            f"so S2 is empty. A smaller min_similar, or a label set with more distinct branches, gives sets.")


def followed_classes(profile: Profile, n_near: int = 1) -> list[str]:
    """The classes a chapter follows when the reader names none, chosen from WordNet, not by hand.

    The target is the earlier (in label order) of the closest pair of classes
    in WordNet path distance; then its ``n_near`` nearest classes; last the
    class farthest from it. With fewer than three classes that have a synset,
    the first classes in label order.
    """
    from .semantics.wordnet import load

    names, syn = list(class_names(profile)), profile.synsets()
    known = [k for k, s in enumerate(syn) if s is not None]
    if len(known) < 3:
        return names[: n_near + 2]
    wn = load()
    # Each unordered pair once (path distance is symmetric); the earlier class of the closest pair.
    target = min((wn.path_distance(syn[i], syn[j]), i) for a, i in enumerate(known) for j in known[a + 1:])[1]
    others = sorted((k for k in known if k != target), key=lambda k: (wn.path_distance(syn[target], syn[k]), k))
    return [names[target]] + [names[k] for k in others[:n_near]] + [names[others[-1]]]


def teachers(profile: Profile | str, alphas, seed: int = 0, **overrides) -> dict[float, Run]:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return {float(a): train_teacher(teacher_config(prof, a, seed, **overrides)) for a in alphas}


def teacher_set(profile: Profile | str, alphas, seeds) -> dict[tuple[float, int], Run]:
    """Every teacher of ``alphas`` x ``seeds``, keyed ``(alpha, seed)``, trained from the far end.

    The student grid trains the same teachers alpha by alpha from the first seed up, each before its
    students. A chapter that runs beside it (front matter ``lskd: beside:``) takes them in the opposite
    order and passes over any that another process is training now, then collects those once they are
    done: the two lanes split the teachers instead of one waiting on the other's locks. A teacher's
    weights do not depend on which process trains it.
    """
    from . import cache
    from .train import teacher_config_dict

    prof = get_profile(profile) if isinstance(profile, str) else profile
    cfgs = {(float(a), s): teacher_config(prof, a, s) for a in alphas for s in seeds}
    runs, later = {}, []
    for key, cfg in reversed(cfgs.items()):
        run = cache.run_dir("teacher", teacher_config_dict(cfg))
        if not run.done and cache.busy(run):
            later.append(key)
        else:
            runs[key] = train_teacher(cfg)
    for key in later:
        runs[key] = train_teacher(cfgs[key])  # waits for the process that holds it, then reads its record
    return {key: runs[key] for key in cfgs}


def test_curve(run: Run) -> tuple[list[int], list[float]]:
    """A run's test top-1 by epoch: ``(epochs, top1)``, at the epochs it was evaluated (``eval_every``)."""
    curves = run.metrics()["curves"]
    return evaluated_epochs(curves), curves["test_top1"]


def teacher_floor(profile: Profile | str, alphas, seeds) -> bool:
    """Did every teacher (each alpha and seed) learn? The floor is twice chance (``claims.image_floor``).

    Glues the sentence that says so as ``image_floor``; a chapter draws verdicts only when this is
    True, and otherwise shows its verdict rows as "not run" (``floored``) and saves none.
    """
    from .claims import floor_check, image_floor

    prof = get_profile(profile) if isinstance(profile, str) else profile
    acc = {f"alpha={a}, seed {s}": r.metrics()["final_top1"] for (a, s), r in
           sorted(teacher_set(prof, alphas, seeds).items(), key=lambda kv: kv[0][::-1])}
    above, words = floor_check(acc, image_floor(len(prof.classes())), "%", prof.name)
    say(image_floor=words)
    return above


def floored(table: pd.DataFrame, above: bool) -> pd.DataFrame:
    """A verdict table as a page may show it: unchanged above the floor, its verdicts "not run" below."""
    if above or "verdict" not in table.columns:
        return table
    return table.assign(verdict="not run", **{c: None for c in ("95% CI", "p", "p (TOST)") if c in table.columns})


def plain_t1(profile: Profile | str, seeds, temperature: float = 1.0) -> float:
    """Mean top-1 of the plain teacher's students at ``temperature`` over ``seeds``: what scales the
    paper's numbers to this testbed (``claims.expectation``)."""
    return float(np.mean([r.metrics()["final_top1"] for r in students(profile, 0.0, [temperature], seeds).values()]))


def students(profile: Profile | str, alpha: float, temperatures, seeds, teacher_overrides: dict | None = None,
             student_overrides: dict | None = None, beta: float = 0.0, feature_weight: float = 0.0,
             kd_from_epoch: int = 0, teacher_seed: int | None = None) -> dict[tuple[int, float], Run]:
    """Students of the alpha-teacher, keyed by (seed, temperature).

    Seed ``s`` distils from the teacher trained with seed ``s``, so a paired
    interval over seeds covers teacher and student variation together, as the
    paper's three runs per cell do. ``teacher_seed`` fixes one teacher for
    every seed instead: the student-only view.
    ``feature_weight`` and ``kd_from_epoch`` select the variants of ``train_students``.
    """
    prof = get_profile(profile) if isinstance(profile, str) else profile
    out = {}
    for s in seeds:
        tcfg = teacher_config(prof, alpha, s if teacher_seed is None else teacher_seed, **(teacher_overrides or {}))
        runs = train_students(tcfg, student_config(prof, s, **(student_overrides or {})), temperatures, beta,
                              feature_weight=feature_weight, kd_from_epoch=kd_from_epoch)
        out.update({(s, t): r for t, r in runs.items()})
    return out


def cached_students(profile: Profile | str, alpha: float, temperatures, seeds,
                    teacher_seed: int | None = None) -> dict[tuple[int, float], Run]:
    """The finished students of a profile found in the cache; never trains (for summary chapters)."""
    from . import cache
    from .train import student_config_dict, teacher_config_dict

    prof = get_profile(profile) if isinstance(profile, str) else profile
    out = {}
    for s in seeds:
        tseed = s if teacher_seed is None else teacher_seed
        teacher = cache.run_dir("teacher", teacher_config_dict(teacher_config(prof, alpha, tseed)))
        if not teacher.done:
            continue
        for t in temperatures:
            run = cache.run_dir("student", student_config_dict(student_config(prof, s), teacher, float(t), 0.0))
            if run.done:
                out[(s, float(t))] = run
    return out


_DATA: dict[tuple, object] = {}


def _data_for(cfg: TrainConfig):
    """The evaluation data of ``cfg``, loaded once per kernel: chapters evaluate dozens of models on it."""
    key = (cfg.dataset, cfg.data_root, cfg.n_train, cfg.n_test, cfg.downsample, cfg.image_size, cfg.augment)
    if key not in _DATA:
        _DATA.clear()  # one data set at a time keeps memory flat
        _DATA[key] = load_data(cfg)
    return _DATA[key]


_OUTPUTS: dict[tuple, tuple] = {}
_OUTPUTS_KEPT = 24  # a chapter revisits the same students (eta at several T); larger sets stay cheap to drop


def outputs(run: Run, split: str = "test", features: bool = False):
    """Logits, labels (and penultimate features) of a cached model on a split; recent ones are remembered."""
    key = (str(run.path), split, features)
    if key in _OUTPUTS:
        return _OUTPUTS[key]
    conf = run.config()
    cfg = TrainConfig(**(conf["student"] if "student" in conf else conf))
    data = _data_for(cfg)
    model = load_model(run, data)
    out = predict(model, data.train if split == "train" else data.test, cfg, features=features)
    if len(_OUTPUTS) >= _OUTPUTS_KEPT:
        _OUTPUTS.pop(next(iter(_OUTPUTS)))
    _OUTPUTS[key] = out
    return out


def features(run: Run, split: str = "test", per_class: int | None = None):
    """Logits, labels and penultimate features; optionally the first ``per_class`` examples of each class
    (the paper's figures use 150 training and 50 validation images per class)."""
    logits, labels, feats = outputs(run, split, features=True)
    if per_class is not None:
        idx = torch.cat([torch.nonzero(labels == k).flatten()[:per_class] for k in labels.unique()])
        idx = torch.sort(idx).values
        logits, labels, feats = logits[idx], labels[idx], feats[idx]
    return logits, labels, feats


def penultimate_view(run: Run, classes, split: str, per_class: int) -> dict:
    """Müller et al.'s view of one model: 2-D plane coordinates of three classes' features and centroids.

    Returns ``xy`` (N, 2), ``labels`` (N,) as positions 0..2 in ``classes``,
    ``centroids`` (3, 2), and ``ratio``: the distance from the first class's
    centroid to the second's over that to the third's, in the 3-D span.
    """
    from .analysis import projection
    from .analysis.clusters import centroids

    state = run.state_dict()
    q, tpl = projection.template_basis(state["fc.weight"], state["fc.bias"], classes)
    _, y, f = features(run, split, per_class)
    keep = torch.isin(y, torch.as_tensor(list(classes)))
    f, y = f[keep], y[keep]
    pos = torch.as_tensor([list(classes).index(int(k)) for k in y])
    pts = projection.project(f, q)
    cents = centroids(pts, pos, 3)
    d = (cents - cents[0]).norm(dim=1)
    return {"xy": projection.plane_coordinates(pts, tpl), "labels": pos,
            "centroids": projection.plane_coordinates(cents, tpl), "ratio": (d[1] / d[2]).item()}


def eta_records(profile: Profile | str, alphas, t1: float, t2: float, seeds, sets: dict[int, tuple[list, list]],
                splits=("train", "test"), variant: str = "centroid", max_per_class: int | None = None,
                feature_weight: float = 0.0, normaliser: str = "all") -> pd.DataFrame:
    """eta(t1, t2) of every (teacher alpha, seed, split, target, set), from cached students.

    Students at t1 and t2 of the same seed share initial weights and batches,
    so each seed gives one paired measurement. ``feature_weight > 0`` measures
    the students trained with feature distillation added to KD. ``normaliser``
    picks a reading of the paper's normalising sum (``diffusion.NORMALISERS``).
    """
    from .analysis import diffusion

    diffusion.norm_classes(normaliser, [], [], [])  # an unknown reading fails before any training

    if variant not in ("centroid", "pairwise"):
        raise ValueError(f"variant must be 'centroid' or 'pairwise', got {variant!r}")
    rows = []
    for a in alphas:
        runs = students(profile, a, [t1, t2], seeds, feature_weight=feature_weight)
        for s in seeds:
            for split in splits:
                dist = {}
                for t in (t1, t2):
                    _, y, f = outputs(runs[(s, float(t))], split, features=True)
                    k = int(y.max()) + 1
                    if variant == "centroid":
                        c = diffusion.centroids(f, y, k)
                        dist[t] = {p: diffusion.centroid_distances(c, p) for p in sets}
                    else:
                        dist[t] = {p: diffusion.pairwise_distances(f, y, p, k, max_per_class) for p in sets}
                for p, (s1, s2) in sets.items():
                    for name, members in (("S1", s1), ("S2", s2)):
                        norm = diffusion.norm_classes(normaliser, s1, s2, members)
                        rows.append({"alpha": float(a), "seed": s, "split": split, "target": p, "set": name,
                                     "eta": diffusion.diffusion_index(dist[t1][p], dist[t2][p], p, members, norm)})
    return pd.DataFrame(rows)


def provenance(runs: dict, profile: str) -> pd.DataFrame:
    """Profile, seed, hardware and wall time of every run a result rests on."""
    rows = []
    for key, run in runs.items():
        m = run.metrics()
        hw = m["hardware"]
        rows.append({"run": run.path.name, "profile": profile, "kind": m["kind"], "arch": m["arch"],
                     "alpha": m.get("teacher_alpha", m["alpha"]), "temperature": m.get("temperature"),
                     "seed": m["seed"], "epochs": len(m["curves"]["epoch"]),
                     "hardware": f"{hw['device']} {hw.get('gpu', hw['cpu'])} x{hw['cpu_threads']} threads",
                     "torch": hw["torch"], "wall_time_s": round(m["wall_time_s"], 1)})
    df = pd.DataFrame(rows)
    if len(df):
        # On the page: what differs per run in the table, what they share in one line below it.
        df.attrs["hide"] = ["profile", "torch", "hardware"]
        df.attrs["note"] = (f"profile {profile}; " + "; ".join(
            f"{c}: {', '.join(sorted(map(str, set(df[c]))))}" for c in ("hardware", "torch")))
    return df


def eta_accuracy_link(profile: Profile | str, alphas, t1: float, seeds, sets: dict[int, tuple[list, list]],
                      normaliser: str = "all") -> pd.DataFrame:
    """One row per student above ``t1``: its eta(S1) from ``t1`` (mean over targets, train split) and its
    test top-1 drop from the ``t1`` student of the same teacher and seed."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    rows = []
    for t in (t for t in prof.temperatures if t > t1):
        rec = eta_records(prof, alphas, t1, t, seeds, sets, splits=("train",), normaliser=normaliser)
        eta_s1 = rec[rec.set == "S1"].groupby(["alpha", "seed"]).eta.mean()
        for (a, s), v in eta_s1.items():
            runs = students(prof, a, [t1, t], [s])
            acc = {tt: r.metrics()["final_top1"] for (_, tt), r in runs.items()}
            rows.append({"alpha": a, "seed": s, "T": float(t), "eta S1": float(v),
                         "drop (points)": acc[float(t1)] - acc[float(t)]})
    return pd.DataFrame(rows)


def note(text: str) -> None:
    """Show a computed remark as a note box on the page (a part of a chapter that does not apply, and why)."""
    from IPython.display import Markdown, display

    display(Markdown(f"```{{note}}\n{text}\n```"))


def say(**phrases) -> None:
    """Glue computed phrases into the chapter's prose: ``{glue:md}`name``` in a markdown cell.

    Every sentence of a chapter that states an outcome takes its words and
    numbers from here, so the text changes when the runs change.
    """
    from IPython.display import Markdown
    from myst_nb import glue

    for name, text in phrases.items():
        glue(name, Markdown(str(text)), display=False)


def executed_dir():
    """Where this chapter's executed notebook goes (set by ``lskd run``/``lskd book``): files the
    book's static pages show, such as the front page's dashboard, are written beside it."""
    import os
    from pathlib import Path

    return Path(os.environ.get("LSKD_EXECUTED_DIR", Path.cwd().parent / "book" / "executed"))


_FIGURES = {"n": 0}


def caption(fig, profile: str, seeds, what: str = "", hardware: str | None = None) -> None:
    """Number a figure and caption it with what it shows, its profile, seeds and the machine its runs
    came from: this one, or ``hardware`` for a committed record's runs."""
    _FIGURES["n"] += 1
    seeds = list(seeds) if seeds is not None else []
    text = (f"Figure {_FIGURES['n']}. {what + ' ' if what else ''}Profile {profile}, "
            f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds)) or 'n/a'}; {hardware or machine()}.")
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize=8, style="italic", wrap=True)


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {torch.get_num_threads()} threads, torch {torch.__version__}"


def ce_students(profile: Profile | str, seeds, **overrides) -> dict[int, Run]:
    """Students trained alone with cross-entropy on the labels (no teacher), one per seed: KD's baseline."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return {s: train_teacher(student_config(prof, s, **overrides)) for s in seeds}


def final_top1(runs_by_alpha: dict[float, dict[tuple[int, float], Run]]) -> dict[tuple[float, float], dict[int, float]]:
    """``{alpha: {(seed, T): run}}`` -> ``{(alpha, T): {seed: final top-1}}``, the input of the verdicts."""
    out: dict[tuple[float, float], dict[int, float]] = {}
    for a, runs in runs_by_alpha.items():
        for (s, t), r in runs.items():
            out.setdefault((float(a), float(t)), {})[s] = r.metrics()["final_top1"]
    return out
