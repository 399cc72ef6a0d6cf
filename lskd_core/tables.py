"""Tables for reading: one style for every table a chapter shows, built with great_tables.

``show(df)`` turns a data frame into a publication table that fits the text column:

- no bare integer index (a meaningful index becomes ordinary columns);
- text left-aligned, numbers right-aligned, each numeric column with one number
  of decimals (``decimals``, or 2 for floats and 0 for integers);
- units in the headers (``units={"final_top1": "%"}`` labels the column "final_top1 (%)");
- verdicts as the same coloured badges as the ledger;
- long text (the paper's evidence, a claim's wording) in a collapsible
  ``<details>`` cell rather than a column that pushes the table off the page.

Why great_tables rather than a pandas Styler (README, "Tables"): it formats per
column (decimals, alignment, labels, spanners) in one call each and writes plain
HTML and CSS, no script, so the pages stay offline and light; a Styler needs the
same rules written as CSS by hand for every table.
"""

from __future__ import annotations

import html
from typing import Iterable, Mapping

import pandas as pd

# The ledger's colours, so a verdict looks the same on every page.
VERDICT_COLOURS = {"supported": "#2e7d32", "not supported": "#c62828",
                   "smaller than the paper's effect": "#ef6c00", "inconclusive": "#757575", "not run": "#e0e0e0"}
# A cell with more characters than this goes into a collapsible.
LONG_TEXT = 60


def badge(text: str) -> str:
    colour = VERDICT_COLOURS.get(text, "#9e9e9e")
    fg = "#000" if text == "not run" else "#fff"
    # An inline block that may wrap: "smaller than the paper's effect" on one line is wider than a
    # profile's column in the ledger's matrix and pushed the table past the text column.
    return (f'<span style="background:{colour};color:{fg};border-radius:0.6em;padding:0.05em 0.5em;'
            f'font-size:0.85em;display:inline-block;line-height:1.25">{html.escape(text)}</span>')


def collapsible(text: str, keep: int = 40) -> str:
    text = str(text)
    if len(text) <= LONG_TEXT:
        return html.escape(text)
    head = text[:keep].rsplit(" ", 1)[0] or text[:keep]
    return (f"<details><summary>{html.escape(head)} …</summary>"
            f'<div style="white-space:normal">{html.escape(text)}</div></details>')


def _missing(v) -> bool:
    """True for None and NaN only (a cell may hold a list or an array, which pd.notna would expand)."""
    return v is None or (isinstance(v, float) and v != v)


def _is_verdict(col: str) -> bool:
    return "verdict" in col or col.endswith("Holm")


# Condition columns: their values name a condition (alpha = 0.1, T = 64, seed 2), printed as written.
CONDITIONS = ("alpha", "T", "seed", "teacher alpha", "temperature")


def show(df: pd.DataFrame, title: str | None = None, decimals: Mapping[str, int] | None = None,
         units: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
         hide: Iterable[str] = (), spanners: Mapping[str, list[str]] | None = None, full: Iterable[str] = ()):
    """The book's table of ``df`` (a great_tables ``GT``; a notebook displays it as HTML).

    Columns named in ``full`` are shown whole and wrapped, never folded away, however long."""
    from great_tables import GT, loc, style

    data = df.copy()
    hide = [*hide, *df.attrs.get("hide", [])]
    note = df.attrs.get("note")
    if not isinstance(data.index, pd.RangeIndex):
        data = data.reset_index()
    data = data.drop(columns=[c for c in hide if c in data.columns])
    data.columns = [str(c) for c in data.columns]
    decimals, units, labels = dict(decimals or {}), dict(units or {}), dict(labels or {})
    numeric = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])]
    text = [c for c in data.columns if c not in numeric]
    # "paper 2A top-1", "paper 2B top-1", ...: one spanner "paper", the table names below it
    for prefix in ("paper ", "ours "):
        group = [c for c in data.columns if c.startswith(prefix)]
        if len(group) >= 2 and not (spanners and any(set(group) & set(v) for v in spanners.values())):
            spanners = {**(spanners or {}), prefix.strip(): group}
            labels = {**{c: c[len(prefix):] for c in group}, **(labels or {})}
    for c in text:  # lists, arrays and tuples in a cell are shown as written
        data[c] = data[c].map(lambda v: v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
    table = GT(data)
    for c in numeric:
        if c in CONDITIONS and c not in decimals:
            table = table.fmt(lambda v: "" if _missing(v) else f"{v:g}", columns=c)
            continue
        places = decimals.get(c, 0 if pd.api.types.is_integer_dtype(data[c]) else 2)
        table = table.fmt_number(columns=c, decimals=places, use_seps=False)
    for c in text:
        if _is_verdict(c):
            table = table.fmt(lambda v: "" if _missing(v) else badge(str(v)), columns=c)
        elif c not in set(full) and data[c].astype(str).str.len().max() > LONG_TEXT:
            table = table.fmt(lambda v: "" if _missing(v) else collapsible(v), columns=c)
    if text:
        table = table.cols_align("left", columns=text)
    if numeric:
        table = table.cols_align("right", columns=numeric)
    names = {c: labels.get(c, c) + (f" ({units[c]})" if c in units else "") for c in data.columns}
    table = table.cols_label(cases=names) if names else table
    for label, cols in (spanners or {}).items():
        table = table.tab_spanner(label=label, columns=[c for c in cols if c in data.columns])
    short = [c for c in text if not _is_verdict(c) and data[c].astype(str).str.len().max() <= 12]
    if title:
        table = table.tab_header(title=title)
    if note:
        table = table.tab_source_note(note)
    table = table.sub_missing(missing_text="—")
    # Many columns share the text column's width: a smaller font keeps "71.55 ± 0.12" on one line.
    size = "0.8em" if len(data.columns) < 10 else "0.72em"
    table = (table.tab_options(table_width="100%", table_font_size=size, data_row_padding="3px",
                               column_labels_font_weight="bold")
             .tab_style(style.text(whitespace="normal"), loc.body()))
    if short:  # "89.27 ± 0.20" and "[-0.6, 0.1]" read as one token: never broken across lines
        table = table.tab_style(style.text(whitespace="nowrap"), loc.body(columns=short))
    return table


def verdicts(df: pd.DataFrame, unit: str = "points", title: str | None = None):
    """A verdict table as a reader needs it: the claim, our mean contrast with its interval and the
    seeds, the 80 %-power detectable effect (and the expected one, where registered), the verdict
    as a badge, and the paper's evidence folded away. The per-table paper columns and the raw
    p-values stay in the records."""
    keep = [c for c in ("claim", "ours: mean diff", "95% CI", "n seeds", "detectable", "expected", "verdict",
                        "paper evidence", "paper") if c in df.columns]
    data = df[keep].copy()
    if "paper" in data.columns:
        data["paper"] = data["paper"].map(lambda v: "" if v is None else str(v))
    for c in ("ours: mean diff", "detectable", "expected"):
        if c in data.columns:
            data[c] = pd.to_numeric(data[c], errors="coerce")
    if "expected" in data.columns and data["expected"].isna().any():
        data.attrs["note"] = ("expected —: the registered rule gives this claim no size (the paper states none in "
                              "these units), so its verdict is supported, not supported or inconclusive, never "
                              "'smaller than the paper's effect' (results/preregistration.toml).")
    return show(data, title=title, units={c: unit for c in ("ours: mean diff", "detectable", "expected")},
                labels={"ours: mean diff": "ours: mean", "n seeds": "seeds", "detectable": "detectable at 80 %"})


def use_for_dataframes() -> None:
    """Make every data frame a chapter displays render in the book's table style (an IPython
    formatter; outside IPython nothing changes). A Series shows as a one-column table."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    def html_of(frame: pd.DataFrame) -> str | None:
        try:
            if {"verdict", "ours: mean diff"} <= set(frame.columns):
                return verdicts(frame).as_raw_html()
            return show(frame).as_raw_html()
        except Exception:  # noqa: BLE001 - a table the style cannot lay out falls back to pandas' own HTML
            return None

    fmt = ip.display_formatter.formatters["text/html"]
    fmt.for_type(pd.DataFrame, html_of)
    fmt.for_type(pd.Series, lambda s: html_of(s.to_frame()))
