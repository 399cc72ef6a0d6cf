"""Execute the book's jupytext MyST notebooks with papermill, safely.

- Parameters are checked (names and values) before a kernel starts.
- The executed notebook is written atomically: a failed run leaves nothing.
- A failure names the chapter and the cell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .io import atomic_write_bytes, atomic_write_json
from .proc import die_with_parent, kill_child_groups
from .params import ParameterError, validate

from .paths import EXECUTED, NOTEBOOKS, TOC  # noqa: E402  (re-read by tests and chapters through this module)


class ChapterFailed(RuntimeError):
    pass


def read_notebook(path: Path):
    import jupytext

    return jupytext.read(path)


def declared_parameters(nb) -> dict[str, Any]:
    """The defaults of the cell tagged ``parameters`` (executed in an empty namespace)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"a chapter needs exactly one cell tagged 'parameters', found {len(cells)}")
    ns: dict[str, Any] = {}
    exec(compile(cells[0].source, "<parameters>", "exec"), {}, ns)
    return {k: v for k, v in ns.items() if not k.startswith("_")}


from .params import parse_value  # noqa: E402 - one parser for lskd run and plain papermill


@dataclass
class Result:
    chapter: str
    ok: bool
    wall_s: float
    output: Path | None
    error: str = ""
    does_not_apply: str = ""  # why the chapter cannot run on this profile (ok, and its page says so)


@contextlib.contextmanager
def _env(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(source: Path, parameters: dict[str, Any] | None = None, output: Path | None = None,
            progress: bool = True) -> Result:
    """Run one chapter. Raises ``ParameterError`` before any compute for bad parameters."""
    import nbformat
    import papermill as pm

    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"no chapter at {source}; chapters live in {NOTEBOOKS}")
    nb = read_notebook(source)
    defaults = declared_parameters(nb)
    params = dict(parameters or {})
    if isinstance(params.get("data_root"), str):
        # The kernel runs in notebooks/: a relative folder means the caller's, so it goes in absolute.
        params["data_root"] = str(Path(params["data_root"]).expanduser().absolute())
    validate({**defaults, **params}, allowed=set(defaults))
    _check_data(chapter_needs(nb), {**defaults, **params})
    output = Path(output) if output else EXECUTED / f"{source.stem}.ipynb"
    _check_writable(output)
    from .cache import cache_root

    t0 = time.perf_counter()
    # The kernel inherits LSKD_PROGRESS=0 (no progress bars in the rendered page) and
    # the cache as an absolute path (its working directory is notebooks/); the caller's
    # environment is restored afterwards. The temporary folder carries our pid so that
    # `lskd runs gc` can tell a killed run's leftovers from a live one's.
    with tempfile.TemporaryDirectory(prefix=f"lskd-nb-{os.getpid()}-") as tmp, \
            _env(LSKD_PROGRESS="0", LSKD_CACHE=str(cache_root()), LSKD_EXECUTED_DIR=str(output.parent.resolve()),
                 **chapter_environment(nb, source.stem, params)):
        src = Path(tmp) / f"{source.stem}.ipynb"
        out = Path(tmp) / f"{source.stem}.out.ipynb"
        nbformat.write(nb, src)
        try:
            # The kernel's own log is silenced: its warning (TCP without encryption, on a kernel that
            # listens on loopback only) and the "KeyboardInterrupt caught in kernel" it logs at ERROR
            # when shut down after the last cell are nothing a reader can act on. A kernel that
            # dies still ends the chapter with one error line (DeadKernelError, below).
            pm.execute_notebook(str(src), str(out), parameters=params, kernel_name="python3",
                                cwd=str(source.parent), progress_bar=progress, log_output=False,
                                extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except pm.PapermillExecutionError as exc:
            if exc.ename == "DoesNotApply":
                page = does_not_apply_page(nb, exc.evalue, {**defaults, **params})
                atomic_write_bytes(output, json.dumps(page).encode())
                return Result(source.stem, True, time.perf_counter() - t0, output, does_not_apply=exc.evalue)
            msg = (f"chapter {source.name} failed in cell {exc.exec_count} "
                   f"(code cell #{exc.cell_index}): {exc.ename}: {exc.evalue}")
            return Result(source.stem, False, time.perf_counter() - t0, None, msg)
        except Exception as exc:  # noqa: BLE001 - nbclient's DeadKernelError, a timeout: one line, not a traceback
            if type(exc).__module__.split(".")[0] not in ("nbclient", "jupyter_client", "papermill"):
                raise
            cell = _running_cell(out)
            msg = (f"chapter {source.name}: {type(exc).__name__} in {cell}: the kernel stopped "
                   f"({str(exc).splitlines()[0] if str(exc) else 'no message'}); finished runs are kept in the cache")
            return Result(source.stem, False, time.perf_counter() - t0, None, msg)
        _fold_injected_parameters(out)
        try:
            atomic_write_bytes(output, out.read_bytes())
        except OSError as exc:  # keep the work: the chapter ran, only the copy failed
            kept = Path(tempfile.gettempdir()) / f"{source.stem}.executed.ipynb"
            kept.write_bytes(out.read_bytes())
            return Result(source.stem, False, time.perf_counter() - t0, kept,
                          f"could not write {output} ({exc.strerror}); the executed chapter is kept at {kept}")
    return Result(source.stem, True, time.perf_counter() - t0, output)


def chapter_environment(nb, stem: str, params: dict[str, Any]) -> dict[str, str]:
    """What a chapter's kernel is told about the chapter it runs: its name, its declared defaults,
    what it needs of its profile, and whether this run keeps the defaults (and so may save records).
    ``lskd run`` and the script runner of ``bench/gpu_chapters.py`` both set exactly these."""
    defaults = declared_parameters(nb)
    return {"LSKD_CHAPTER": stem, "LSKD_DEFAULTS": "1" if runs_with_defaults(defaults, params) else "0",
            "LSKD_CHAPTER_DEFAULTS": json.dumps(defaults),
            "LSKD_CHAPTER_NEEDS": json.dumps(sorted(chapter_needs(nb)))}


def runs_with_defaults(defaults: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a run's parameters are all the chapter's declared defaults (the profile may be any;
    seeds may be the profile's own); only such a run may write the records a profile keeps."""
    from .profiles import get_profile
    from .records import _norm

    for name, value in params.items():
        if name == "profile" or _norm(value) == _norm(defaults.get(name)):
            continue
        if name == "seeds" and defaults.get("seeds") is None:
            try:
                prof = get_profile(params.get("profile", defaults.get("profile", "tiny")), params.get("scale"))
            except ValueError:
                return False
            if _norm(list(value or [])) == _norm(list(prof.seeds)):
                continue
        return False
    return True


def _running_cell(out: Path) -> str:
    """The cell papermill marked as running in a partly written output notebook, in words."""
    try:
        nb = json.loads(out.read_text())
    except (OSError, ValueError):
        return "an unknown cell"
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    # papermill starts cells in order and marks each as it starts; when the kernel dies it marks the
    # cell it was in as completed, so the last cell that started is the one the kernel died in.
    started = [i for i, c in enumerate(code) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    return f"code cell #{started[-1]}" if started else "an unknown cell"


NEEDS = ("image", "translation")


def chapter_needs(nb) -> set[str]:
    """What a chapter needs of its profile, as its front matter declares (``lskd: needs: [image]``)."""
    needs = nb.metadata.get("lskd", {}).get("needs", [])
    if not isinstance(needs, list) or not set(needs) <= set(NEEDS):
        raise ValueError(f"front matter lskd.needs must be a list drawn from {', '.join(NEEDS)}, got {needs!r}")
    return set(needs)


def _check_data(needs: set[str], params: dict[str, Any]) -> None:
    """The data a chapter needs is there: a copy that is not fails before a kernel starts.

    A profile without the part a chapter needs passes: that chapter's page says why it does not apply.
    """
    from .data import DataError, resolve_root
    from .profiles import get_profile

    prof = get_profile(params.get("profile", "tiny"), data_root=params.get("data_root"))
    try:
        if "translation" in needs and prof.nmt is not None:
            prof.nmt.validate()  # the IWSLT corpus is brought: its folder must be given
        if "image" in needs and prof.teacher is not None:
            resolve_root(prof.dataset, prof.data_root)
    except (DataError, ValueError) as exc:
        raise ParameterError(f"profile {prof.name}: {exc}") from None


def _fold_injected_parameters(path: Path) -> None:
    """Show the values used in the parameters cell itself and drop papermill's injected cell.

    A reader then sees each parameter once, with its default beside any value
    the run overrode. The injected cell has already run; removing it from the
    saved notebook changes nothing that was computed.
    """
    import ast

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not injected or not params:
        return
    values: dict[str, str] = {}
    for node in ast.parse(injected[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.unparse(node.value)
    lines = []
    for line in params[0].source.splitlines():
        name = line.split("=", 1)[0].strip() if "=" in line and not line.startswith((" ", "#")) else None
        if name in values:
            default = line.split("=", 1)[1].split("#", 1)[0].strip()
            if not _same_literal(values[name], default):
                line = f"{name} = {values[name]}  # this run; default {default}"
        lines.append(line)
    params[0].source = "\n".join(lines)
    nb.cells = [c for c in nb.cells if c is not injected[0]]
    nbformat.write(nb, str(path))


def _same_literal(a: str, b: str) -> bool:
    import ast

    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError):
        return a == b


def _check_writable(output: Path) -> None:
    """Fail before any compute when the executed notebook could not be written."""
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if output.is_dir():
        raise ParameterError(f"output {output} is a folder; give a file name such as {output / 'chapter.ipynb'}")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ParameterError(f"cannot write the executed chapter to {output}: {parent} is not a writable folder")


HIDDEN_INPUT_TAGS = {"hide-input", "remove-input", "remove-cell"}


def visible_code(path: Path) -> list[str]:
    """The non-blank code lines a reader sees on a chapter's page (cells not hidden behind a toggle)."""
    lines = []
    for cell in read_notebook(path).cells:
        if cell.cell_type == "code" and not set(cell.metadata.get("tags", [])) & HIDDEN_INPUT_TAGS:
            lines += [line for line in cell.source.splitlines() if line.strip()]
    return lines


def toc_chapters(toc: Path = TOC) -> list[str]:
    """Stems of the executed notebooks the table of contents lists, in order."""
    data = yaml.safe_load(toc.read_text())
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    files.append(str(node[key]))
            for v in node.values():
                if isinstance(v, (list, dict)):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    prefix = "book/executed/"
    return [f[len(prefix):].removesuffix(".ipynb") for f in files if f.startswith(prefix)]


def does_not_apply_page(nb, reason: str, params: dict[str, Any]) -> dict:
    """The page of a chapter that cannot run on a profile: its opening prose, the parameters of this run, and
    the reason the chapter computed (``profiles.DoesNotApply``)."""
    cells: list[dict] = []
    for c in nb.cells:
        if c.cell_type != "markdown":
            break
        cells.append({"cell_type": "markdown", "metadata": {}, "source": c.source})
    shown = ", ".join(f"`{k}={v!r}`" for k, v in params.items() if v is not None)
    cells.append({"cell_type": "markdown", "metadata": {}, "source":
                  f"```{{note}}\nThis chapter does not apply to this run ({shown}).\n\n{reason}\n```\n"})
    return _page(cells)


def failure_page(chapter: str, error: str) -> dict:
    """A stand-in page for a chapter that failed, so the rest of the book still builds."""
    return _page([{"cell_type": "markdown", "metadata": {}, "source":
                   f"# {chapter}: not built\n\nThis chapter failed to execute during the build.\n\n"
                   f"```text\n{error}\n```\n"}])


def _page(cells: list[dict]) -> dict:
    """A notebook of ready cells, written in place of a chapter's executed notebook."""
    return {"cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


# Each chapter kernel of a book built in lanes sees one CPU core: its torch uses one thread, its
# fairseq grid one process. Two kernels at one thread each do 1.5x the work of one kernel at two
# threads on this 2-core machine (measured: see the README), and the book's numbers then do not
# depend on how many cores the machine has.
LANE_ENV = {"LSKD_CPUS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _lane_start() -> None:
    os.environ.update(LANE_ENV)
    # A lane gets TERM when the book that started it dies, even of SIGKILL. On TERM it ends its
    # kernels' process groups (a kernel leads its own session, so that takes whatever the chapter
    # started, fairseq included), then unwinds, so its temporary folder goes too.
    signal.signal(signal.SIGTERM, _lane_term)
    die_with_parent(signal.SIGTERM)


def _lane_term(*_) -> None:
    # Not sys.exit: the pool's worker loop catches SystemExit from a task and would live on.
    import shutil

    kill_child_groups()
    for tmp in Path(tempfile.gettempdir()).glob(f"lskd-nb-{os.getpid()}-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    os._exit(143)




def chapter_question(nb) -> str:
    """The question a chapter answers, as its front matter states it (``lskd: question:``)."""
    q = (nb.metadata.get("lskd") or {}).get("question")
    if not isinstance(q, str) or not q.strip():
        raise ValueError("a chapter's front matter must state its question: lskd: question: \"...\"")
    return q


def _chapter_names(nb, field: str) -> list[str]:
    names = (nb.metadata.get("lskd") or {}).get(field, [])
    if not isinstance(names, list) or not all(isinstance(a, str) for a in names):
        raise ValueError(f"front matter lskd.{field} must be a list of chapter names, got {names!r}")
    return names


def chapter_after(nb) -> list[str]:
    """The chapters this one must follow when chapters run side by side (front matter ``lskd: after:``).

    A chapter names the chapter whose student sweeps it reuses: a batched student's weights depend on
    its companions to float rounding, so the sweep that trains it must be the same in every build.
    """
    return _chapter_names(nb, "after")


def chapter_beside(nb) -> list[str]:
    """The chapters this one should start beside (front matter ``lskd: beside:``): it trains some of
    their runs from the other end (``experiments.teacher_set``), so the two lanes share that work."""
    return _chapter_names(nb, "beside")


def book_plan(stems: list[str], nbs: dict[str, Any], durations: dict[str, float] | None = None
              ) -> tuple[list[str], dict[str, set[str]], list[str]]:
    """How ``execute_book`` orders a book in lanes: ``(training chapters by priority, their
    prerequisites, reader chapters in toc order)``.

    A chapter that trains (it needs the profile's image or translation part) runs in a lane once
    the chapters it names in ``lskd: after:`` are done. Priority: chapters that others wait for,
    then those that name one of them in ``lskd: beside:`` (they take part of its training off it),
    then the longest by the last build's ``durations``, then those that need another part of the
    profile than the first (they never wait on its runs), then table-of-contents order. Chapters that
    train nothing read what the others wrote (the ledger, the timings) and run last, in order.
    """
    durations = durations or {}
    needs = {s: chapter_needs(nbs[s]) for s in stems}
    train = [s for s in stems if needs[s]]
    deps = {s: set(chapter_after(nbs[s])) & set(train) for s in train}
    waiting_on = {s: sum(s in d for d in deps.values()) for s in train}
    waited = {s for s in train if waiting_on[s]}
    helps = {s: bool(set(chapter_beside(nbs[s])) & waited) and not deps[s] for s in train}
    # A chapter that shares no need with the first one (translation beside images) trains none of
    # its runs, so it goes beside it rather than wait on the locks of the runs that one is training.
    first = needs[min(train, key=lambda s: (-waiting_on[s], stems.index(s)))] if train else set()
    order = sorted(train, key=lambda s: (-waiting_on[s], not helps[s], -durations.get(s, 0.0),
                                         bool(needs[s] & first), stems.index(s)))
    done: set[str] = set()
    for _ in train:  # a cycle would leave chapters that can never start
        done |= {s for s in train if deps[s] <= done}
    if done != set(train):
        raise ValueError(f"the chapters' lskd.after form a cycle among {sorted(set(train) - done)}")
    return order, deps, [s for s in stems if s not in deps]


def reference_timings_path(profile: str) -> Path:
    """Where a profile's measured cold build keeps its chapter timings (committed, so that a first
    build on a fresh machine can estimate its time left)."""
    from .paths import RESULTS

    return RESULTS / "book_timings" / f"{profile}.json"


def _last_durations(timings_path: Path, profile: str) -> tuple[dict[str, float], str]:
    """The chapter timings to plan and estimate from, and what they are: this machine's last complete
    build of the profile, else the profile's committed cold build (``reference_timings_path``)."""
    for path, what in ((timings_path, "the last build's timings"),
                       (reference_timings_path(profile), "the committed cold build's timings")):
        try:
            t = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if t.get("profile") == profile:
            return {c["chapter"]: float(c["wall_s"]) for c in t.get("chapters", []) if c.get("ok")}, what
    return {}, ""


def execute_book(profile: str, progress: bool = True, toc: Path | None = None, notebooks: Path = NOTEBOOKS,
                 executed: Path = EXECUTED, data_root: str | None = None, scale: str | None = None,
                 jobs: int | None = None) -> list[Result]:
    """Execute every chapter of the table of contents; a failure does not stop the others.

    With ``jobs`` > 1 (default: one per CPU core) the chapters that train run in that many lanes,
    side by side, each kernel on one CPU thread (``LANE_ENV``) and in the order of ``book_plan``;
    then the chapters that read the others run one by one. ``jobs=1`` runs every chapter in
    table-of-contents order, each kernel with all the threads torch takes by default. Results
    come back in table-of-contents order.
    """
    params = {"profile": profile, **{k: v for k, v in (("data_root", data_root), ("scale", scale)) if v}}
    validate(params)
    _check_data({"image"}, params)  # the image chapters train on the profile's data: is it there?
    from .dist import cpus

    jobs = cpus() if jobs is None else jobs
    if jobs < 1:
        raise ParameterError(f"jobs must be >= 1, got {jobs}")
    stems = toc_chapters(toc) if toc else toc_chapters()
    timings_path, building = executed / TIMINGS, executed / TIMINGS_BUILDING
    lanes, deps, readers = [], {}, stems
    if jobs > 1:
        nbs = {s: read_notebook(notebooks / f"{s}.md") for s in stems}
        lanes, deps, readers = book_plan(stems, nbs, _last_durations(timings_path, profile)[0])
    t0 = time.perf_counter()
    results: dict[str, Result] = {}
    label = ", ".join(f"{k}={v}" for k, v in params.items())
    tracker = BookProgress(stems, *_last_durations(timings_path, profile), max(1, min(jobs, len(lanes) or 1)))

    def finished(r: Result) -> None:
        results[r.chapter] = r
        tracker.done(r.chapter)
        state = "does not apply" if r.does_not_apply else ("ok" if r.ok else "FAILED")
        print(f"[lskd book] {r.chapter}: {state} in {r.wall_s:.1f} s ({len(results)}/{len(stems)} chapters, "
              f"{time.perf_counter() - t0:.0f} s) {r.error or r.does_not_apply}", flush=True)
        if not r.ok:
            atomic_write_bytes(executed / f"{r.chapter}.ipynb", json.dumps(failure_page(r.chapter, r.error)).encode())
        # Written after each chapter so the reproducibility appendix sees those before it; it
        # replaces the last complete build's timings only once this build is complete.
        atomic_write_json(building, {
            "pid": os.getpid(), "profile": profile, "jobs": jobs, "lane_threads": int(LANE_ENV["LSKD_CPUS"]) if lanes else None,
            "wall_s": round(time.perf_counter() - t0, 1),
            "chapters": [{"chapter": x.chapter, "ok": x.ok, "wall_s": round(x.wall_s, 1), "error": x.error,
                          "does_not_apply": x.does_not_apply, "lane": x.chapter in deps}
                         for x in (results[s] for s in stems if s in results)]})

    try:
        with tracker:
            if lanes:
                _run_lanes(lanes, deps, min(jobs, len(lanes)), notebooks, executed, params, label, finished,
                           tracker.started)
            for stem in readers:
                print(f"[lskd book] {stem} ({label})", flush=True)
                tracker.started(stem)
                finished(execute(notebooks / f"{stem}.md", params, executed / f"{stem}.ipynb", progress=progress))
    except BaseException:
        building.unlink(missing_ok=True)  # an interrupted build leaves the last complete timings alone
        raise
    if building.is_file():
        os.replace(building, timings_path)
    return [results[s] for s in stems]


TIMINGS, TIMINGS_BUILDING = "_timings.json", "_timings.building.json"


def build_timings(executed: Path = EXECUTED) -> dict | None:
    """The chapter timings a reader chapter shows: those of the build it is part of (while ``lskd book``
    runs; ``in_progress`` is then True), else the last complete build's; None when neither exists."""
    for name in (TIMINGS_BUILDING, TIMINGS):
        try:
            t = json.loads((Path(executed) / name).read_text())
        except (OSError, ValueError):
            continue
        if name == TIMINGS_BUILDING and not Path(f"/proc/{t.get('pid')}").exists():
            continue  # left by a build that was killed
        return {**t, "in_progress": name == TIMINGS_BUILDING}
    return None


class BookProgress:
    """How far a build is, and an estimate of the time left from the last build's chapter timings.

    The work left is the expected duration of every chapter not yet finished (less what a running
    chapter has already spent), spread over the lanes. On a terminal it is a tqdm bar; elsewhere
    (CI logs, ``make book`` piped) one line every ``every`` seconds. A chapter the last build did
    not time counts as the mean of those it did (60 s when none was timed).
    """

    def __init__(self, stems: list[str], last: dict[str, float], source: str, lanes: int,
                 every: float = 30.0) -> None:
        known = [last[s] for s in stems if s in last]
        self.source = source  # what the timings are, for the progress line
        # Without any timing of an earlier build there is nothing to estimate from: say so, not a guess.
        self.timed = bool(known)
        fallback = sum(known) / len(known) if known else 60.0
        self.expected = {s: last.get(s, fallback) for s in stems}
        self.lanes, self.every = lanes, every
        self.start: dict[str, float] = {}
        self.finished: set[str] = set()
        self.t0 = time.perf_counter()
        self._stop, self._bar = None, None

    def started(self, stem: str) -> None:
        self.start[stem] = time.perf_counter()

    def done(self, stem: str) -> None:
        self.finished.add(stem)
        self._refresh()

    def left_s(self) -> float:
        now = time.perf_counter()
        work = sum(max(self.expected[s] - (now - self.start[s] if s in self.start else 0.0), 0.0)
                   for s in self.expected if s not in self.finished)
        return work / self.lanes

    def overrun(self) -> bool:
        """Whether a running chapter has outlasted its expected time (the estimate is then a floor)."""
        now = time.perf_counter()
        return any(now - t > self.expected[s] for s, t in self.start.items() if s not in self.finished)

    def left(self) -> str:
        if not self.timed:
            return "no estimate of the time left (no earlier build of this profile was timed)"
        return f"{'at least' if self.overrun() else 'about'} {self.left_s():.0f} s left"

    def line(self) -> str:
        return (f"[lskd book] {len(self.finished)}/{len(self.expected)} chapters, "
                f"{time.perf_counter() - self.t0:.0f} s elapsed, {self.left()}"
                + (f" (estimated from {self.source})" if self.timed else ""))

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.n = len(self.finished)
            self._bar.set_postfix_str(self.left(), refresh=True)

    def __enter__(self):
        import threading

        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=len(self.expected), desc="[lskd book] chapters", unit="ch", leave=True)
        self._stop = threading.Event()

        def tick():
            while not self._stop.wait(1.0 if self._bar is not None else self.every):
                if self._bar is not None:
                    self._refresh()
                else:
                    print(self.line(), flush=True)

        self._thread = threading.Thread(target=tick, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.close()


def _run_lanes(order: list[str], deps: dict[str, set[str]], jobs: int, notebooks: Path, executed: Path,
               params: dict[str, Any], label: str, finished, started=lambda stem: None) -> None:
    """Run chapters ``jobs`` at a time in worker processes, each as soon as its prerequisites are done."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    waiting, running, done = list(order), {}, set()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_lane_start) as pool:
        try:
            while waiting or running:
                for stem in [s for s in waiting if deps[s] <= done][:jobs - len(running)]:
                    waiting.remove(stem)
                    print(f"[lskd book] {stem} ({label}; {len(running) + 1} of {jobs} lanes)", flush=True)
                    started(stem)
                    running[pool.submit(execute, notebooks / f"{stem}.md", params, executed / f"{stem}.ipynb",
                                        False)] = stem
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in ready:
                    done.add(running.pop(fut))
                    finished(fut.result())
        except BaseException:  # Ctrl-C, TERM or a chapter's bad parameters: stop every lane now
            # A worker's kernel notices its parent is gone and exits; the cache keeps finished runs
            # and checkpoints, and its locks die with their processes.
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
