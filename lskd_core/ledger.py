"""The claims ledger: every claim of the paper, its evidence there, and ours per profile.

Chapters that compute a verdict save it as a *claim record* in the run cache
(``records.save_verdicts``, ``<cache>/claims/<profile>/<chapter>.json``): the
rows of the verdict table plus the names of the runs they rest on. This module
only reads them (``records.load_verdicts``). The ledger chapter joins those
records with the list of the paper's claims below. Nothing in the ledger is
typed by hand except the paper's side, and a claim no chapter has computed
for a profile shows as "not run".
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from .claims import REGISTRY
from .paths import RESULTS
from .tables import VERDICT_COLOURS
from .tables import badge as _badge
from .records import archived, load_verdicts


def _kind(key: str) -> str:
    return REGISTRY[key].kind


# Holm's families, by claim kind (results/preregistration.toml, [rule] verdict).
HOLM_FAMILIES = {"the paper's claims and their sharper tests": ("paper", "sharper"),
                 "the book's own questions": ("book",)}


def ledger(root: Path | None = None, exclude: Iterable[str] = ("smoke",),
           reference: Path | None = RESULTS) -> pd.DataFrame:
    """One row per paper claim; per profile with records: our mean contrast, CI, seeds and verdict.

    The smoke profile only proves that chapters run, so its records are left out by default, and so
    are records kept under a name that is no profile (``archived``): their chapters show them.
    """
    records = [r for r in load_verdicts(root, reference) if r["profile"] not in set(exclude)
               and r["profile"] not in archived(root, reference)]
    profiles = sorted({r["profile"] for r in records})
    found: dict[tuple[str, str], dict] = {}
    for r in records:
        for row in r["rows"]:
            found[(r["profile"], row["key"])] = {**row, "chapter": r["chapter"], "n runs": len(r["runs"]),
                                                 "origin": r.get("origin", "cache"), "source": r.get("source")}
    from .verdicts import holm_verdicts

    # Holm's adjustment runs within each profile, in the two families the pre-registration names: the
    # paper's claims with their sharper tests, and the book's own questions (the distillation gate among them).
    adjusted: dict[tuple[str, str], str] = {}
    for prof in profiles:
        for family in HOLM_FAMILIES.values():
            keys = [k for k in REGISTRY if (prof, k) in found and _kind(k) in family]
            for k, v in zip(keys, holm_verdicts([found[(prof, k)] for k in keys])):
                adjusted[(prof, k)] = v
    out = []
    for key, spec in REGISTRY.items():
        claim, evidence, chapter = spec.statement, spec.where, spec.chapter
        row = {"key": key, "kind": _kind(key), "claim": claim, "paper evidence": evidence, "chapter": chapter}
        for prof in profiles:
            got = found.get((prof, key))
            if got is None:
                row[f"{prof}: verdict"] = "not run"
                row[f"{prof}: Holm"] = "not run"
                row[f"{prof}: ours"] = ""
                continue
            row[f"{prof}: verdict"] = got["verdict"]
            row[f"{prof}: Holm"] = adjusted[(prof, key)] if got.get("p") is not None or got["verdict"] == "not run" \
                else _why_no_test(got)
            row[f"{prof}: ours"] = (f"{got.get('ours: mean diff')} {got.get('95% CI', '')} (n={got.get('n seeds')})"
                                    + (" [reference record]" if got["origin"] == "reference" else "")
                                    + (f" [from {got['source']}]" if got["source"] else ""))
        out.append(row)
    from .claims import KINDS

    # Grouped by kind, the book's own questions (the distillation gate) first, then the paper's claims.
    order = {k: i for i, k in enumerate(("book", "paper", "sharper"))}
    assert set(order) == set(KINDS)
    return pd.DataFrame(sorted(out, key=lambda r: order[r["kind"]]))


def _why_no_test(row: dict) -> str:
    """Why a verdict row has no p-value to adjust, in words a reader can act on."""
    n = row.get("n seeds") or row.get("n points") or 0
    if n < 2:
        return "no test (one seed: run more seeds)"
    if "p" not in row:
        return "no test (record written before p-values: re-run its chapter)"
    return "no test (every seed gave the same difference)"


def matrix_html(table: pd.DataFrame) -> str:
    """The ledger as a compact claims x profiles matrix of verdict badges that fits a page column.

    Each cell shows the per-claim verdict and, below it, the Holm-adjusted one; the
    paper's evidence and our numbers sit in a collapsible under each claim.
    """
    import html

    profiles = [c.split(":")[0] for c in table.columns if c.endswith(": verdict")]
    head = "".join(f"<th>{html.escape(p)}</th>" for p in profiles)
    from .claims import KINDS

    body, kind = [], None
    for _, r in table.iterrows():
        if r.get("kind") != kind:
            kind = r.get("kind")
            body.append(f'<tr><th colspan="{len(profiles) + 1}" style="text-align:left">'
                        f'{html.escape(KINDS.get(kind, str(kind)).capitalize())}</th></tr>')
        cells = "".join(f'<td style="text-align:center">{_badge(r[f"{p}: verdict"])}<br>'
                        f'<small>Holm: {html.escape(str(r.get(f"{p}: Holm", "")))}</small></td>' for p in profiles)
        ours = "; ".join(f"{p}: {html.escape(str(r[f'{p}: ours']))}" for p in profiles if r[f"{p}: ours"])
        body.append(f'<tr><td>{html.escape(r["claim"])}<details><summary><small>evidence</small></summary>'
                    f'<small>paper: {html.escape(r["paper evidence"])}<br>ours: {ours or "none yet"}<br>'
                    f'chapter {html.escape(r["chapter"])}</small></details></td>{cells}</tr>')
    return (f'<table style="width:100%;table-layout:fixed;font-size:0.9em"><colgroup><col style="width:55%">'
            f'</colgroup><thead><tr><th>claim</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def dashboard(table: pd.DataFrame, path: Path | None = None):
    """Every claim's verdict per profile, from the claim records: the Holm-adjusted verdicts
    (what the front page reads), and beside them the per-claim ones.

    Saved to ``path`` when given, for the book's front page.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    profiles = [c.split(":")[0] for c in table.columns if c.endswith(": verdict")]
    order = list(VERDICT_COLOURS)
    blank = order.index("not run")
    short = {"smaller than the paper's effect": "smaller than\npaper's", "not supported": "not\nsupported"}
    fig, axes = plt.subplots(1, 2, figsize=(2.2 + 2.2 * max(len(profiles), 1), 0.34 * len(table) + 1.4),
                             sharey=True)
    for ax, suffix, title in ((axes[0], "Holm", "after Holm's adjustment"), (axes[1], "verdict", "per claim")):
        grid = [[order.index(r.get(f"{p}: {suffix}")) if r.get(f"{p}: {suffix}") in order else blank
                 for p in profiles] for _, r in table.iterrows()]
        if profiles:
            ax.imshow(grid, cmap=ListedColormap(list(VERDICT_COLOURS.values())), vmin=0, vmax=len(order) - 1,
                      aspect="auto")
        ax.set_xticks(range(len(profiles)), profiles)
        ax.xaxis.tick_top()
        ax.set_title(title, fontsize=9, pad=22)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                ax.text(j, i, short.get(order[v], order[v]), ha="center", va="center", fontsize=6,
                        color="black" if v == blank else "white")
    axes[0].set_yticks(range(len(table)), [k.replace("_", " ") for k in table["key"]], fontsize=8)
    fig.suptitle("Verdict of every claim, per profile (computed from the claim records)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def profile_summary(table: pd.DataFrame) -> str:
    """One paragraph per profile, in words computed from the ledger's Holm-adjusted verdicts: the
    distillation gate first, then what is supported, contradicted and smaller than the paper's
    effect. Image and translation claims get separate paragraphs. Markdown, for the front page."""
    from .claims import GATE, NMT_GATE, gate_temperature
    from .verdicts import SMALLER

    profiles = [c.split(":")[0] for c in table.columns if c.endswith(": verdict")]
    gate_keys = set(GATE.values()) | set(NMT_GATE.values())
    out = []
    for prof in profiles:
        for part, keep in (("images", lambda k: not k.startswith(("nmt_", "kd_beats_no_kd"))),
                           ("translation", lambda k: k.startswith(("nmt_", "kd_beats_no_kd")))):
            rows = table[[keep(k) for k in table.key]]
            got = rows[rows[f"{prof}: Holm"] != "not run"]
            if got.empty:
                continue
            gate = got[got.key.isin(gate_keys)]
            claims = got[~got.key.isin(gate_keys)]

            def names(verdict):
                keys = claims[claims[f"{prof}: Holm"] == verdict].key.tolist()
                return ", ".join(f"`{k}`" for k in keys) if keys else "none"

            if gate.empty:
                gate_words = "the distillation gate was not computed"
            elif (gate[f"{prof}: Holm"] == "supported").all():
                gate_words = "distillation from the plain teacher beats the student trained alone (the gate passes)"
            elif (gate[f"{prof}: Holm"] == "supported").any():
                at = ", ".join(f"T = {gate_temperature(k):g}" for k in gate[gate[f"{prof}: Holm"] == "supported"].key)
                gate_words = (f"distillation from the plain teacher beats the student trained alone at {at} only, "
                              "so the paper's question can be asked at that temperature and the other verdicts "
                              "describe the testbed")
            else:
                gate_words = ("distillation from the plain teacher is **not** shown to beat the student trained "
                              "alone, so the paper's question has no signal here and these verdicts describe "
                              "the testbed, not the paper's claims")
            n_inc = int((claims[f"{prof}: Holm"] == "inconclusive").sum())
            # A row without a p-value (one seed) was never tested: counted apart, with the reason the ledger gives.
            untested = claims[f"{prof}: Holm"].str.startswith("no test")
            why = sorted({w.removeprefix("no test (").removesuffix(")") for w in claims[f"{prof}: Holm"][untested]})
            ours = got[f"{prof}: ours"]
            origin = ("reference records" if ours.str.contains("reference record").any() else
                      "its committed grid, verdicts computed in this build" if ours.str.contains(r"\[from ").any()
                      else "this build")
            counts = ([f"{n_inc} of {len(claims)} inconclusive"] if n_inc or not untested.any() else []) + (
                [f"{int(untested.sum())} of {len(claims)} untested ({'; '.join(why)})"] if untested.any() else [])
            out.append(f"**`{prof}`, {part}** ({origin}): {gate_words}. After Holm's adjustment within the "
                       f"profile's claim families, supported: {names('supported')}; not supported: "
                       f"{names('not supported')}; smaller than the paper's effect: {names(SMALLER)}; "
                       + "; ".join(counts) + ".")
    return "\n\n".join(out) or "No profile has claim records yet: run the chapters first."
