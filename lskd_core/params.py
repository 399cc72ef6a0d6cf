"""Validation of notebook parameters, shared by ``lskd run`` and the notebooks.

One vocabulary across chapters (``profile``, ``alpha``, ``temperature``,
``temperatures``, ``seeds``, ``num_epochs``, ``lr``, ``dataset``, ...). Values
are checked before any compute is spent, and a bad one names the valid range.
"""

from __future__ import annotations

import math
from typing import Any, Callable


class ParameterError(ValueError):
    pass


def _profile(v: Any) -> None:
    from .profiles import PROFILES

    if not isinstance(v, str) or v not in PROFILES:
        raise ParameterError(f"profile={v!r} is unknown; valid profiles: {', '.join(PROFILES)}")


def _positive_number(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
            raise ParameterError(f"{name}={v!r} must be a finite number > 0")
    return check


def _alpha(v: Any, name: str = "alpha") -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise ParameterError(f"{name}={v!r} must be a number in [0, 1)")


def _number_list(name: str, item: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if not isinstance(v, (list, tuple)) or not v:
            raise ParameterError(f"{name}={v!r} must be a non-empty list, e.g. [1, 2, 3, 64]")
        for x in v:
            item(x)
    return check


def _dataset(v: Any) -> None:
    from .data import MODULES

    if v not in MODULES:
        raise ParameterError(f"dataset={v!r} is unknown; valid: {', '.join(MODULES)}")


def _arch(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        from .models import ARCHS

        if v is not None and v not in ARCHS:
            raise ParameterError(f"{name}={v!r} is unknown; valid: {', '.join(ARCHS)}")
    return check


def _seed(v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ParameterError(f"seed={v!r} must be an integer >= 0")


def _class_names(v: Any) -> None:
    """A non-empty list of distinct names; which names exist depends on the profile (``validate``)."""
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(c, str) for c in v):
        raise ParameterError(f"{v!r} must be a non-empty list of class names, e.g. ['Shirt', 'Coat']")
    if len(set(v)) != len(v):
        raise ParameterError(f"class names repeat: {list(v)}")


def _known_classes(params: dict[str, Any]) -> None:
    """Class-name parameters must name classes of the profile's data set.

    Checked before a kernel starts whenever the class list can be read: the
    embedded Fashion-MNIST, or a copy given with ``data_root``.
    """
    from .profiles import get_profile

    given = {name: [v] if isinstance(v, str) else list(v) for name in ("classes", "targets", "example_class")
             if (v := params.get(name))}
    if not given:
        return
    try:
        prof = get_profile(params.get("profile", "tiny"), data_root=params.get("data_root"))
        names = prof.classes()
    except Exception:  # no copy at hand: the chapter checks once it has read the list
        return
    for name, values in given.items():
        unknown = [c for c in values if c not in names]
        if unknown:
            shown = list(names) if len(names) <= 20 else list(names[:20]) + ["..."]
            raise ParameterError(f"{name}: unknown class names {unknown}; profile {prof.name} ({prof.dataset}) "
                                 f"has {shown}")


def _scale(v: Any) -> None:
    from .profiles import PROFILES

    if v is not None and (not isinstance(v, str) or v not in PROFILES or PROFILES[v].teacher is None):
        raise ParameterError(f"scale={v!r} is unknown; valid: None or a profile whose sizes to borrow "
                             f"({', '.join(n for n, p in PROFILES.items() if p.teacher)})")


def _data_root(v: Any) -> None:
    import os

    if v is not None and (not isinstance(v, str) or not os.path.isdir(os.path.expanduser(v))):
        raise ParameterError(f"data_root={v!r} is not a folder; give the folder of the data set you brought "
                             f"(see data_manifests/ for each layout)")


def _optional_positive_int(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ParameterError(f"{name}={v!r} must be an integer >= 1 or None (profile default)")
    return check


def _positive_int(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ParameterError(f"{name}={v!r} must be an integer >= 1")
    return check


def _optional_epoch(v: Any) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise ParameterError(f"switch_epoch={v!r} must be an integer >= 0 or None (half the epochs)")


def _choice(name: str, options: tuple[str, ...]) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if v not in options:
            raise ParameterError(f"{name}={v!r} is unknown; valid: {', '.join(map(repr, options))}")
    return check


def _fraction(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ParameterError(f"{name}={v!r} must be a number in (0, 1]")
    return check


def _temperature(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        from .config import check_temperature

        try:
            check_temperature(v, name)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
    return check


def _temperatures(name: str, optional: bool = False) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        from .config import check_temperatures

        if v is None and optional:  # the profile's own list
            return
        if not isinstance(v, (list, tuple)):
            raise ParameterError(f"{name}={v!r} must be a non-empty list, e.g. [1, 2, 3, 64]")
        try:
            check_temperatures(v, name)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
    return check


# Longer lists are typos (a pasted range), not experiments: each item trains models.
MAX_SEEDS, MAX_ALPHAS = 100, 16


def _alphas(name: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        _number_list(name, _alpha)(v)
        if len(v) > MAX_ALPHAS:
            raise ParameterError(f"{name}: {len(v)} values; at most {MAX_ALPHAS}")
        _unique(name, v)
    return check


def _class_name(v: Any) -> None:
    if v is not None and not isinstance(v, str):
        raise ParameterError(f"example_class={v!r} must be one class name (a string), e.g. 'Shirt', or None")


def _unique(name: str, v: Any) -> None:
    if len({float(x) for x in v}) != len(v):
        raise ParameterError(f"{name}={list(v)!r} repeats a value; each must appear once "
                             f"(a repeated seed would give a zero-width interval)")


def _seeds(v: Any) -> None:
    if v is None:  # the profile's seeds
        return
    _number_list("seeds", _seed)(v)
    if len(v) > MAX_SEEDS:
        raise ParameterError(f"seeds: {len(v)} values; at most {MAX_SEEDS}")
    _unique("seeds", v)


RULES: dict[str, Callable[[Any], None]] = {
    "profile": _profile,
    "scale": _scale,
    "data_root": _data_root,
    "alpha": _alpha,
    "control_alpha": lambda v: _alpha(v, "control_alpha"),
    "alphas": _alphas("alphas"),
    "temperature": _temperature("temperature"),
    "temperatures": _temperatures("temperatures", optional=True),
    "match_temperatures": _temperatures("match_temperatures"),
    "example_class": _class_name,
    "seed": _seed,
    "seeds": _seeds,
    "num_epochs": _optional_positive_int("num_epochs"),
    "lr": lambda v: v is None or _positive_number("lr")(v),
    "dataset": _dataset,
    "t1": _temperature("t1"),
    "t2": _temperature("t2"),
    "larger_alpha": lambda v: _alpha(v, "larger_alpha"),
    "per_class_train": _optional_positive_int("per_class_train"),
    "per_class_val": _optional_positive_int("per_class_val"),
    "min_similar": _optional_positive_int("min_similar"),
    "classes": lambda v: v is None or _class_names(v),
    "targets": lambda v: v is None or _class_names(v),
    "feature_weight": _positive_number("feature_weight"),
    "switch_temperatures": _temperatures("switch_temperatures"),
    "switch_epoch": _optional_epoch,
    "confidence": _choice("confidence", ("label", "top")),
    "normaliser": _choice("normaliser", ("all", "sets", "set")),
    "num_bins": _positive_int("num_bins"),
    "low_fraction": _fraction("low_fraction"),
    "teacher_arch": _arch("teacher_arch"),
    "student_arch": _arch("student_arch"),
}


def parse_value(text: str) -> Any:
    """A command-line or papermill value as YAML (``4``, ``0.1``, ``[1, 2]``, ``tiny``).

    YAML 1.1 reads ``1e-3`` (no dot) as a string; such strings become numbers here.
    """
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParameterError(f"cannot read {text!r} as a value ({where}); write lists as [1, 2, 3]") from None
    return _numbers(value)


def _numbers(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def accept(namespace: dict[str, Any]) -> None:
    """Turn string values of a chapter's parameters into what they spell, in place.

    Plain papermill (``papermill ... -p temperatures "[1, 2]"``) passes strings;
    ``lskd run`` already passes typed values. After this both reach the chapter
    alike, and ``validate`` sees the same values either way.
    """
    for name in RULES:
        v = namespace.get(name)
        if isinstance(v, str):
            parsed = parse_value(v)
            if not isinstance(parsed, str):
                namespace[name] = parsed
        elif isinstance(v, list):
            namespace[name] = [_numbers(x) for x in v]


def validate(params: dict[str, Any], allowed: set[str] | None = None) -> dict[str, Any]:
    """Check names (against ``allowed``) and values (against ``RULES``); return ``params``."""
    if allowed is not None:
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; "
                                 f"this chapter takes: {', '.join(sorted(allowed))}")
    for name, value in params.items():
        if name in RULES:
            RULES[name](value)
    _known_classes(params)
    _within_profile(params)
    _related(params)
    return params


def _related(params: dict[str, Any]) -> None:
    """Rules that relate two parameters of one chapter."""
    if "t1" in params and "t2" in params and not params["t1"] < params["t2"]:
        raise ParameterError(f"t1 must be below t2; got t1={params['t1']}, t2={params['t2']}")
    if "larger_alpha" in params and "alpha" in params and not params["larger_alpha"] > params["alpha"]:
        raise ParameterError(f"larger_alpha ({params['larger_alpha']}) must exceed alpha ({params['alpha']})")


def _within_profile(params: dict[str, Any]) -> None:
    """Rules that need the profile: an epoch must exist in its students' training."""
    v = params.get("switch_epoch")
    if v is None:
        return
    from .profiles import get_profile

    try:
        prof = get_profile(params.get("profile", "tiny"), scale=params.get("scale"))
    except ValueError:
        return  # the profile's own rule has said why
    if prof.student is not None and not v < prof.student.num_epochs:
        raise ParameterError(f"switch_epoch={v} must lie in [0, {prof.student.num_epochs}) for profile {prof.name} "
                             f"(its students train {prof.student.num_epochs} epochs)")
