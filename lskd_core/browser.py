"""What a reader sees: every built page opened in headless Chromium, checked and photographed.

``check_book(html_dir)`` loads each page after its scripts have run (MathJax
included) and reports, per page:

- raw TeX left in the rendered text (``\\[``, ``\\(``, ``$$``, ``\\frac`` ...),
  which means the math did not render;
- ``<img>`` elements whose source is not a file of the build;
- error output cells (tracebacks) and chapters that failed to build;
- any remote script, style sheet, image or font: the book must work offline;
- a table wider than the page's text column at a 1280-pixel window (a reader would
  have to scroll it sideways, or would see it cut off).

It also saves a screenshot of every page under ``<html_dir>/_screenshots/``,
which the reproducibility appendix links.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# TeX that survives only when MathJax did not run.
_RAW_TEX = re.compile(r"\\\[|\\\]|\\\(|\\\)|\$\$|\\frac\b|\\begin\{|\\mathrm\b|\\alpha\b|\\eta\b")
# Resources a page loads (not plain links a reader may follow).
_REMOTE = re.compile(r"""<(?:script|img|link|source|iframe)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)
_CSS_REMOTE = re.compile(r"""url\(\s*["']?(?:https?:)?//""", re.I)


def chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    redirect: bool = False


def _run(browser: str, args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    import tempfile

    # A profile folder of its own per call: pages are checked side by side (check_book), and two
    # Chromiums on one profile hand their work to each other.
    with tempfile.TemporaryDirectory(prefix="lskd-chromium-") as profile:
        base = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=8000", "--run-all-compositor-stages-before-draw"]
        return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


# Run in the page after it has loaded (and MathJax has typeset): the width of every table against
# the text column's, written onto <body> for --dump-dom to carry out.
_MEASURE = """<script>window.addEventListener('load', () => setTimeout(() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const limit = col.getBoundingClientRect().width + 1, wide = [];
  col.querySelectorAll('table').forEach((t, i) => {
    const w = Math.max(t.scrollWidth, t.getBoundingClientRect().width);
    if (w > limit) wide.push('table ' + (i + 1) + ' is ' + Math.round(w) + ' px wide, the text column ' + Math.round(limit) + ' px');
  });
  document.body.setAttribute('data-lskd-overflow', JSON.stringify(wide));
}, 300));</script>"""


def render(browser: str, page: Path, shot: Path | None = None) -> tuple[str, list[str] | None]:
    """One Chromium load of ``page`` at a 1280-pixel window: its rendered DOM, the tables wider than
    the text column (None when they could not be measured) and, with ``shot``, a screenshot.

    One load per page answers every question: starting Chromium is most of a check's time.
    """
    import json
    import tempfile

    source = page.read_text(errors="replace")
    probe = source.replace("</body>", _MEASURE + "</body>") if "</body>" in source else source + _MEASURE
    # A copy beside the page, so that its relative style sheets, scripts and images load as the page's
    # do; the probe only sets an attribute, so the copy's DOM and picture are the page's.
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=page.parent, prefix=".lskd-measure-",
                                     delete=True) as fh:
        fh.write(probe)
        fh.flush()
        args = ["--dump-dom", "--window-size=1280,1800"] + ([f"--screenshot={shot}"] if shot else [])
        dom = _run(browser, args + [Path(fh.name).resolve().as_uri()]).stdout
    m = re.search(r'data-lskd-overflow="([^"]*)"', dom)
    return dom, (None if m is None else json.loads(html_lib.unescape(m.group(1))))


def visible_text(dom: str) -> str:
    """The text a reader sees: scripts, styles, MathJax's hidden MathML and code blocks removed."""
    dom = re.sub(r"<(script|style|mjx-assistive-mml|pre|code|textarea)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", dom))


def _images(dom: str) -> list[str]:
    return re.findall(r"""<img\b[^>]*\bsrc\s*=\s*["']([^"']+)["']""", dom, flags=re.I)


def check_page(browser: str, page: Path, html_dir: Path, shots: Path | None) -> PageReport:
    rel = str(page.relative_to(html_dir))
    report = PageReport(rel)
    source = page.read_text(errors="replace")
    if re.search(r'<meta[^>]+http-equiv="refresh"', source, flags=re.I) and len(source) < 2000:
        report.redirect = True  # the root index.html; its target is checked as a page of its own
        return report
    shot = shots / (rel.replace("/", "__").removesuffix(".html") + ".png") if shots is not None else None
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)  # a picture from an earlier check must not pass for this one
    dom, wide = render(browser, page, shot)
    report.screenshot = shot if shot is not None and shot.is_file() else None
    if not dom.strip():
        report.problems.append("Chromium returned no DOM")
        return report
    for m in _RAW_TEX.finditer(visible_text(dom)):
        report.problems.append(f"raw TeX in the rendered text: {m.group(0)!r}")
        break
    for src in _images(dom):
        if src.startswith("data:"):
            continue
        if re.match(r"(?:https?:)?//", src):
            report.problems.append(f"remote image {src}")
            continue
        if not (page.parent / src.split("#")[0].split("?")[0]).is_file():
            report.problems.append(f"image does not load: {src}")
    if re.search(r'class="[^"]*\b(?:output traceback|output error)\b', source) or "Traceback (most recent call last)" in source:
        report.problems.append("an error output cell")
    if "This chapter failed to execute during the build" in source:
        report.problems.append("the chapter failed to build")
    for m in _REMOTE.finditer(source):
        report.problems.append(f"remote resource: {m.group(0)[:120]}")
    if wide is None:
        report.problems.append("the tables' widths could not be measured")
    else:
        report.problems += [f"overflow: {w}" for w in wide]
    return report


def book_pages(html_dir: Path) -> list[Path]:
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in html_dir.rglob("*.html") if p.name not in skip and "_static" not in p.parts
                  and "_sources" not in p.parts and "_screenshots" not in p.parts)


def stylesheet_problems(html_dir: Path) -> list[str]:
    out = []
    for css in (html_dir / "_static").rglob("*.css") if (html_dir / "_static").is_dir() else []:
        if _CSS_REMOTE.search(css.read_text(errors="replace")):
            out.append(f"remote url() in {css.relative_to(html_dir)}")
    return out


def check_book(html_dir: Path, screenshots: bool = True, jobs: int | None = None) -> list[PageReport]:
    """Check every page; ``jobs`` pages at a time (default: one per CPU core this process may use)."""
    from concurrent.futures import ThreadPoolExecutor

    from .settings import usable_cpus

    html_dir = Path(html_dir)
    if not html_dir.is_dir():
        raise FileNotFoundError(f"{html_dir} is not a folder; build the book first (make book, or jupyter-book build)")
    pages = book_pages(html_dir)
    if not pages:
        raise FileNotFoundError(f"{html_dir} holds no HTML pages; build the book first")
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium found; `make setup` installs Debian's chromium package")
    shots = html_dir / "_screenshots" if screenshots else None
    with ThreadPoolExecutor(max_workers=jobs or usable_cpus()) as pool:  # Chromium does the work, not Python
        reports = list(pool.map(lambda p: check_page(browser, p, html_dir, shots), pages))
    if shots is not None:
        items = "".join(f'<li><a href="{r.screenshot.name}">{html_lib.escape(r.page)}</a>'
                        f'{" &mdash; " + html_lib.escape("; ".join(r.problems)) if r.problems else ""}</li>'
                        for r in reports if r.screenshot)
        (shots / "index.html").write_text(f"<!doctype html><meta charset='utf-8'><title>Screenshots</title>"
                                          f"<h1>Every page of the book, in headless Chromium</h1><ul>{items}</ul>")
    css = stylesheet_problems(html_dir)
    if css:
        reports.append(PageReport("_static/*.css", css))
    return reports
