"""Every chapter executes on the smoke profile, and bad parameters fail before a kernel starts."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lskd_core.notebook import NOTEBOOKS, declared_parameters, execute, read_notebook, toc_chapters
from lskd_core.params import ParameterError

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in NOTEBOOKS.glob("*.md"))


def test_toc_lists_every_notebook_and_nothing_else():
    assert sorted(toc_chapters()) == CHAPTERS


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_has_profile_parameter_and_takeaways(stem):
    nb = read_notebook(NOTEBOOKS / f"{stem}.md")
    params = declared_parameters(nb)
    assert params["profile"] == "tiny"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if not stem.startswith("99_"):
        assert "## Takeaways" in text and "## Exercises" in text


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """A book folder whose chapters the smoke tests below execute; the browser test renders it."""
    root = tmp_path_factory.mktemp("smoke_book")
    for name in ("_config.yml", "_toc.yml"):
        (root / name).write_text((ROOT / name).read_text())
    (root / "book" / "executed").mkdir(parents=True)
    for md in (ROOT / "book").glob("*.md"):
        (root / "book" / md.name).write_text(md.read_text())
    (root / "_static").symlink_to(ROOT / "_static")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_executes_on_smoke_profile(stem, smoke_book):
    if stem == "11_translation":
        pytest.importorskip("fairseq", reason="the translation chapter needs the nmt extra")
    out = smoke_book / "book" / "executed" / f"{stem}.ipynb"
    r = execute(NOTEBOOKS / f"{stem}.md", {"profile": "smoke"}, out, progress=False)
    assert r.ok, r.error
    nb = json.loads(out.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    assert any(c.get("outputs") for c in code)
    if stem == "11_translation":
        # Smoke's translation teachers learn nothing (0 BLEU): the page says so and draws no verdict.
        text = json.dumps(nb)
        assert "below the floor of 2 BLEU" in text and "no verdict is drawn from this run" in text
        from lskd_core.cache import cache_root

        assert not (cache_root() / "claims" / "smoke" / "11_translation.json").exists()


def test_unknown_parameter_fails_at_once_listing_valid_ones(tmp_path):
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) temprature; this chapter takes: .*temperatures"):
        execute(NOTEBOOKS / "01_ls_and_kd.md", {"temprature": 4}, tmp_path / "x.ipynb")
    assert not (tmp_path / "x.ipynb").exists()


@pytest.mark.parametrize("params,match", [
    ({"profile": "huge"}, "valid profiles: smoke, tiny"),
    ({"alphas": [1.2]}, r"\[0, 1\)"),
    ({"temperatures": []}, "empty"),
    ({"temperatures": [0]}, r"\(0, 1000\]"),
])
def test_bad_values_fail_before_execution(params, match, tmp_path):
    with pytest.raises(ParameterError, match=match):
        execute(NOTEBOOKS / "01_ls_and_kd.md", params, tmp_path / "x.ipynb")


@pytest.mark.slow
def test_cli_run_reports_bad_parameter_with_exit_code():
    r = subprocess.run([sys.executable, "-m", "lskd_core.cli", "run", "notebooks/01_ls_and_kd.md",
                        "-p", "profile", "enormous"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "valid profiles" in r.stderr


@pytest.mark.slow
def test_failing_cell_is_named_and_leaves_no_output(tmp_path):
    src = tmp_path / "broken.md"
    src.write_text((NOTEBOOKS / "99_reproducibility.md").read_text() + "\n```{code-cell} ipython3\n1 / 0\n```\n")
    out = tmp_path / "broken.ipynb"
    r = execute(src, {"profile": "smoke"}, out, progress=False)
    assert not r.ok and "broken.md failed in cell" in r.error and "ZeroDivisionError" in r.error
    assert not out.exists()


@pytest.mark.slow
def test_execute_leaves_the_callers_environment_alone(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("LSKD_PROGRESS", "1")
    r = execute(NOTEBOOKS / "99_reproducibility.md", {"profile": "smoke"}, tmp_path / "x.ipynb", progress=False)
    assert r.ok and os.environ["LSKD_PROGRESS"] == "1"
    monkeypatch.delenv("LSKD_PROGRESS")
    execute(NOTEBOOKS / "99_reproducibility.md", {"profile": "smoke"}, tmp_path / "y.ipynb", progress=False)
    assert "LSKD_PROGRESS" not in os.environ


@pytest.mark.slow
def test_book_build_goes_on_past_a_failed_chapter(tmp_path):
    from lskd_core.notebook import execute_book

    good = (NOTEBOOKS / "99_reproducibility.md").read_text()
    nbs, out = tmp_path / "notebooks", tmp_path / "executed"
    nbs.mkdir()
    (nbs / "a_first.md").write_text(good)
    (nbs / "b_broken.md").write_text(good + "\n```{code-cell} ipython3\nraise RuntimeError('boom')\n```\n")
    (nbs / "c_last.md").write_text(good)
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nchapters:\n" +
                   "".join(f"  - file: book/executed/{s}\n" for s in ("a_first", "b_broken", "c_last")))
    results = execute_book("smoke", progress=False, toc=toc, notebooks=nbs, executed=out)
    assert [r.ok for r in results] == [True, False, True]
    assert "b_broken.md failed in cell" in results[1].error and "RuntimeError: boom" in results[1].error
    page = json.loads((out / "b_broken.ipynb").read_text())
    assert "not built" in page["cells"][0]["source"] and "boom" in page["cells"][0]["source"]
    assert (out / "c_last.ipynb").is_file()
    timings = json.loads((out / "_timings.json").read_text())
    assert [c["ok"] for c in timings["chapters"]] == [True, False, True]


@pytest.mark.slow
def test_rendered_smoke_book_in_a_browser(smoke_book):
    """Every page, opened in headless Chromium after its scripts ran: rendered math, loading
    images, no error cells, nothing fetched from the network. Screenshots are kept beside the build."""
    from lskd_core.browser import check_book, chromium
    from lskd_core.notebook import failure_page, toc_chapters

    if chromium() is None:
        pytest.fail("Chromium is missing: `make setup` installs Debian's chromium package")
    for stem in toc_chapters():  # run alone, the test executes the chapters itself
        page = smoke_book / "book" / "executed" / f"{stem}.ipynb"
        if not page.exists():
            r = execute(NOTEBOOKS / f"{stem}.md", {"profile": "smoke"}, page, progress=False)
            if not r.ok:  # still rendered, as a failure page, and reported below
                page.write_text(json.dumps(failure_page(stem, r.error)))
    r = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(smoke_book),
                        "--path-output", str(smoke_book / "out"), "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    html = smoke_book / "out" / "_build" / "html"
    reports = check_book(html)
    assert len(reports) >= len(toc_chapters()) + 2  # every chapter, the intro and the guide
    problems = {r.page: r.problems for r in reports if r.problems}
    assert problems == {}
    pages = [r for r in reports if r.page.endswith(".html") and not r.redirect]
    assert len(pages) >= len(toc_chapters()) + 2
    assert all(r.screenshot and r.screenshot.stat().st_size > 10_000 for r in pages)


@pytest.mark.slow
def test_course_pack_has_a_students_and_an_instructors_edition(smoke_book):
    """Issue 27: the students' edition holds every exercise and no solution text, the instructors' both;
    both pass the browser check."""
    from lskd_core.browser import check_book
    from lskd_core.course import build_course

    if not (smoke_book / "book" / "executed" / "03_student_grid.ipynb").exists():
        pytest.skip("the smoke chapters have not run (run the whole file)")
    built = build_course(smoke_book, smoke_book / "course")
    solution = "report means of independent runs"  # chapter 3, exercise 3's solution
    student = (built["student"] / "book" / "executed" / "03_student_grid.html").read_text()
    teacher = (built["instructor"] / "book" / "executed" / "03_student_grid.html").read_text()
    assert solution in teacher and 'class="solution' in teacher
    assert solution not in student and 'class="solution' not in student
    assert student.count('class="exercise') == teacher.count('class="exercise') >= 3
    for html in built.values():
        assert {r.page: r.problems for r in check_book(html, screenshots=False) if r.problems} == {}


def test_visible_code_stays_short_and_teaches():
    """Plumbing hides behind toggles: at most 40 visible code lines per chapter on average."""
    from lskd_core.notebook import visible_code

    counts = {p.stem: len(visible_code(p)) for p in sorted(NOTEBOOKS.glob("*.md"))}
    assert sum(counts.values()) / len(counts) <= 40, counts
    # Imports and set-up are never on show: each chapter opens on its parameters.
    for p in NOTEBOOKS.glob("*.md"):
        assert not any(line.startswith(("import ", "from ")) for line in visible_code(p)), p.stem


def test_every_exercise_says_how_to_answer_it_with_valid_parameters():
    """Each exercise has a solution; each `lskd run` line in one names a real chapter and passes its checks."""
    import re
    import shlex

    from lskd_core.params import parse_value, validate

    checked = 0
    for stem in CHAPTERS:
        text = (NOTEBOOKS / f"{stem}.md").read_text()
        if "## Exercises" not in text:
            continue
        section = text.split("## Exercises", 1)[1]
        labels = re.findall(r"(?m)^````\{exercise\}\n:label: (\S+)", section)
        solved = re.findall(r"(?m)^````\{solution\} (\S+)", section)
        assert labels and labels == solved, stem  # every exercise has its solution, in order
        for cmd in re.findall(r"`(lskd run [^`]+)`", text.split("## Exercises", 1)[1]):
            args = shlex.split(cmd)[2:]
            target = NOTEBOOKS.parent / args[0]
            assert target.is_file(), cmd
            params = {args[i + 1]: parse_value(args[i + 2]) for i in range(1, len(args) - 2, 3) if args[i] == "-p"}
            allowed = set(declared_parameters(read_notebook(target)))
            validate(params, allowed=allowed)
            checked += 1
    assert checked >= 20


def test_no_chapter_names_one_data_sets_classes():
    """Class names and WordNet sets come from the profile (ex.class_names, ex.semantic_sets): no chapter's code
    or parameters name a Fashion-MNIST class; only exercises that say they are about the tiny profile do."""
    from lskd_core.data.fashion_mnist import CLASSES

    for stem in CHAPTERS:
        nb = read_notebook(NOTEBOOKS / f"{stem}.md")
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert not [c for c in CLASSES if f'"{c}"' in code or f"'{c}'" in code], stem
        assert "fashion_mnist" not in code and "method1_for(" not in code, stem
        for ex in re.split(r"(?m)^\d+\. ", nb_text(nb).split("## Exercises", 1)[-1])[1:]:
            if any(c in ex for c in CLASSES):
                assert "-p profile tiny" in ex and "tiny profile" in ex, (stem, ex[:80])


def nb_text(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


FIXTURE_FORMATS = {  # profile -> (data set, fixture maker, chapters that cannot apply to that fixture)
    "imagenet": ("imagenet1k", "make_imagenet", {"05_diffusion", "11_translation"}),
    "cub200": ("cub200", "make_cub", {"05_diffusion", "11_translation"}),
    "cifar100": ("cifar100", "make_cifar100", {"11_translation"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("profile", FIXTURE_FORMATS)
def test_every_chapter_runs_on_each_on_disk_format(profile, tmp_path, monkeypatch):
    """`lskd book --profile P --data-root DIR --scale smoke` on a fixture in the real layout: every chapter runs,
    or its page says in computed words why it cannot (translation on an image profile; WordNet sets on three
    classes). The fixture is verified against a manifest of its own, through the same `verify`."""
    import fixtures

    from lskd_core.notebook import execute_book

    dataset, maker, skipped = FIXTURE_FORMATS[profile]
    kw = {"n_train": 100, "n_test": 100} if profile == "cifar100" else {}  # every class once in each split
    root = getattr(fixtures, maker)(tmp_path / "data", **kw)
    fixtures.fixture_manifest(tmp_path / "manifests", dataset, root)
    monkeypatch.setenv("LSKD_DATA_MANIFESTS", str(tmp_path / "manifests"))
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "runs"))
    executed = tmp_path / "executed"
    results = execute_book(profile, progress=False, executed=executed, data_root=str(root), scale="smoke")
    assert [r.chapter for r in results] == toc_chapters()
    failed = {r.chapter: r.error for r in results if not r.ok}
    assert not failed, failed
    assert {r.chapter for r in results if r.does_not_apply} == skipped
    for r in results:
        page = json.loads((executed / f"{r.chapter}.ipynb").read_text())
        text = "\n".join("".join(c["source"]) for c in page["cells"])
        if r.does_not_apply:
            assert "does not apply" in text and r.does_not_apply in text
        else:
            outputs = [o for c in page["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
            assert outputs and not any(o.get("output_type") == "error" for o in outputs), r.chapter
            assert f"{profile}@smoke" in json.dumps(outputs) or r.chapter.startswith(("08", "09", "10", "99"))
    translation = next(r for r in results if r.chapter == "11_translation").does_not_apply
    assert "has no translation part" in translation


def test_a_translation_profile_says_why_image_chapters_do_not_apply(tmp_path):
    r = execute(NOTEBOOKS / "02_teachers.md", {"profile": "iwslt"}, tmp_path / "02.ipynb", progress=False)
    assert r.ok and "is a translation profile" in r.does_not_apply
    page = json.loads((tmp_path / "02.ipynb").read_text())
    assert page["cells"][0]["source"].startswith("# ") and r.does_not_apply in page["cells"][-1]["source"]


def test_class_names_follow_the_profile_on_each_on_disk_format(tmp_path, monkeypatch):
    from dataclasses import replace

    from fixtures import fixture_manifest, make_cifar100, make_cub, make_imagenet

    from lskd_core import experiments as ex
    from lskd_core.profiles import get_profile

    assert ex.class_names("tiny")[6] == "Shirt"
    for name, make, first in (("imagenet", make_imagenet, "n01440764"), ("cub200", make_cub, "001.Black_footed_Albatross"),
                              ("cifar100", make_cifar100, None)):
        root = make(tmp_path / name)
        # The copy is checked against its manifest before a byte of it is parsed (issue 28).
        prof = get_profile(name)
        monkeypatch.setenv("LSKD_DATA_MANIFESTS",
                           str(fixture_manifest(tmp_path / f"m-{name}", prof.dataset, root).parent))
        prof = replace(prof, teacher=replace(prof.teacher, data_root=str(root)))
        names = ex.class_names(prof)
        assert len(names) >= 2 and len(set(names)) == len(names)
        if first:
            assert names[0] == first


def test_papermill_reads_every_declared_parameter(tmp_path):
    """papermill's own parser (inspect_notebook) sees the parameters we declare, so plain papermill warns of none."""
    import nbformat
    import papermill as pm

    for stem in CHAPTERS:
        nb = read_notebook(NOTEBOOKS / f"{stem}.md")
        path = tmp_path / f"{stem}.ipynb"
        nbformat.write(nb, str(path))
        assert set(pm.inspect_notebook(str(path))) == set(declared_parameters(nb)), stem


def test_data_a_profile_needs_is_checked_before_a_kernel_starts(tmp_path):
    with pytest.raises(ParameterError, match="cub200 is not embedded"):
        execute(NOTEBOOKS / "02_teachers.md", {"profile": "cub200"}, tmp_path / "02.ipynb", progress=False)
    with pytest.raises(ParameterError, match="iwslt corpus is brought by the user"):
        execute(NOTEBOOKS / "11_translation.md", {"profile": "iwslt"}, tmp_path / "11.ipynb", progress=False)
    assert not (tmp_path / "02.ipynb").exists() and not (tmp_path / "11.ipynb").exists()


# ---------------------------------------------------------------- a book in lanes

def test_book_plan_runs_the_shared_sweeps_first_and_the_readers_last():
    from lskd_core.notebook import book_plan

    stems = toc_chapters()
    nbs = {s: read_notebook(NOTEBOOKS / f"{s}.md") for s in stems}
    order, deps, readers = book_plan(stems, nbs)
    # Every chapter that reuses chapter 3's sweeps waits for it, and it goes first.
    assert order[0] == "03_student_grid"
    # Chapter 2 trains chapter 3's teachers from the other end, so it starts beside it; on a first
    # build translation, which trains none of chapter 3's runs, comes next.
    assert order[1:3] == ["02_teachers", "11_translation"]
    assert {s for s, d in deps.items() if d == {"03_student_grid"}} == {
        "04_penultimate", "05_diffusion", "06_teacher_targets", "07_classwise_and_alpha", "12_feature_kd",
        "13_deviations"}
    # Chapters that train nothing read the ledger and the timings the others wrote: last, in order.
    assert readers == ["08_errata", "09_ledger_and_guide", "10_teaching", "99_reproducibility"]
    assert sorted(order + readers) == sorted(stems)
    # With the last build's times, the longest ready chapters start first.
    order, _, _ = book_plan(stems, nbs, {"12_feature_kd": 377.0, "11_translation": 194.0, "01_ls_and_kd": 82.0})
    assert order[:5] == ["03_student_grid", "02_teachers", "12_feature_kd", "11_translation", "01_ls_and_kd"]


def test_a_chapter_beside_one_that_nothing_waits_for_gets_no_head_start():
    from types import SimpleNamespace

    from lskd_core.notebook import book_plan

    def nb(after=(), beside=()):
        return SimpleNamespace(metadata={"lskd": {"after": list(after), "beside": list(beside), "needs": ["image"]}},
                               cells=[])

    nbs = {"grid": nb(), "helper": nb(beside=["grid"]), "long": nb(), "reuser": nb(after=["grid"])}
    assert book_plan(list(nbs), nbs, {"long": 500.0, "helper": 50.0})[0] == ["grid", "helper", "long", "reuser"]
    # Without a chapter that waits on the grid, a 'beside' earns nothing: the longest goes first.
    del nbs["reuser"]
    assert book_plan(list(nbs), nbs, {"long": 500.0, "helper": 50.0})[0] == ["long", "helper", "grid"]
    with pytest.raises(ValueError, match="lskd.beside must be a list"):
        book_plan(["a"], {"a": SimpleNamespace(metadata={"lskd": {"beside": "grid", "needs": ["image"]}}, cells=[])})


def test_book_plan_rejects_a_cycle_and_a_bad_after():
    from types import SimpleNamespace

    from lskd_core.notebook import book_plan

    def nb(after):
        return SimpleNamespace(metadata={"lskd": {"after": after, "needs": ["image"]}}, cells=[])

    with pytest.raises(ValueError, match=r"cycle among \['a', 'b'\]"):
        book_plan(["a", "b", "c"], {"a": nb(["b"]), "b": nb(["a"]), "c": nb([])})
    with pytest.raises(ValueError, match="must be a list of chapter names"):
        book_plan(["a"], {"a": nb("b")})


LANE_CHAPTER = """---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
{front}---

# {name}

```{{code-cell}} ipython3
:tags: [parameters]

profile = "tiny"
```

```{{code-cell}} ipython3
import json, os, time
from pathlib import Path

import torch

{body}
```
"""


@pytest.mark.slow
def test_a_book_in_lanes_keeps_the_order_its_chapters_ask_for(tmp_path):
    """Two lanes: chapters that train run side by side on one thread each, one that reuses another's
    runs starts after it, and the chapters that train nothing run last and see what the others wrote."""
    from lskd_core.notebook import execute_book

    nbs, out, log = tmp_path / "notebooks", tmp_path / "executed", tmp_path / "log"
    nbs.mkdir(), log.mkdir()
    trains = ('start = time.time()\n'
              'time.sleep(5)\n'
              'record = {"start": start, "end": time.time(), "threads": torch.get_num_threads(),\n'
              '          "cpus": os.environ.get("LSKD_CPUS")}\n'
              'Path(LOG, "NAME.json").write_text(json.dumps(record))\n')
    reads = 'seen = sorted(p.stem for p in Path(LOG).glob("*.json"))\nprint(seen)\nassert len(seen) == 3, seen\n'
    needs = "lskd:\n  needs: [image]\n"  # a chapter that trains says so in its front matter
    chapters = {"a_long": (needs, trains), "b_other": (needs, trains),
                "c_after_a": (needs + "  after: [a_long]\n", trains), "d_reader": ("", reads)}
    for name, (front, body) in chapters.items():
        body = body.replace("LOG", repr(str(log))).replace("NAME", name)
        (nbs / f"{name}.md").write_text(LANE_CHAPTER.format(front=front, name=name, body=body))
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nchapters:\n" +
                   "".join(f"  - file: book/executed/{s}\n" for s in ("d_reader", "c_after_a", "b_other", "a_long")))
    results = execute_book("smoke", progress=False, toc=toc, notebooks=nbs, executed=out, jobs=2)
    assert [r.chapter for r in results] == ["d_reader", "c_after_a", "b_other", "a_long"]
    assert all(r.ok for r in results), [r.error for r in results]
    runs = {n: json.loads((log / f"{n}.json").read_text()) for n in ("a_long", "b_other", "c_after_a")}
    assert all(r["threads"] == 1 and r["cpus"] == "1" for r in runs.values())
    assert runs["a_long"]["start"] < runs["b_other"]["end"] and runs["b_other"]["start"] < runs["a_long"]["end"]
    assert runs["c_after_a"]["start"] >= runs["a_long"]["end"]
    timings = json.loads((out / "_timings.json").read_text())
    assert timings["jobs"] == 2 and timings["lane_threads"] == 1
    assert [c["lane"] for c in timings["chapters"]] == [False, True, True, True]


def test_a_book_asks_for_at_least_one_lane(tmp_path):
    from lskd_core.notebook import execute_book

    with pytest.raises(ParameterError, match="jobs must be >= 1, got 0"):
        execute_book("smoke", progress=False, executed=tmp_path, jobs=0)


def _descendants(pid: int) -> set[int]:
    """Every live process whose parent chain reaches ``pid`` or was re-parented away from it: found by
    the marker in their environment, since a killed parent's children get a new parent."""
    out = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            env = (p / "environ").read_bytes()
        except OSError:
            continue
        if f"LSKD_TEST_BOOK={pid}".encode() in env.split(b"\0"):
            out.add(int(p.name))
    return out


def _start_sleeping_book(tmp_path):
    import subprocess
    import sys

    nbs, out = tmp_path / "notebooks", tmp_path / "executed"
    nbs.mkdir()
    body = 'import subprocess, sys\n' \
           'child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])\ntime.sleep(120)\n'
    for name in ("a_sleep", "b_sleep"):
        (nbs / f"{name}.md").write_text(LANE_CHAPTER.format(front="lskd:\n  needs: [image]\n", name=name, body=body))
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nchapters:\n  - file: book/executed/a_sleep\n"
                   "  - file: book/executed/b_sleep\n")
    out.mkdir()
    (out / "_timings.json").write_text('{"profile": "smoke", "chapters": [], "complete": "the last build"}')
    # A shell's background job inherits SIGINT ignored, and Python then keeps it so: restore Ctrl-C's
    # default, as a book started at a terminal has it.
    code = ("import os, signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "os.environ['LSKD_TEST_BOOK'] = str(os.getpid())\n"
            "from pathlib import Path\nfrom lskd_core import notebook\n"
            f"notebook.execute_book('smoke', progress=False, toc=Path({str(toc)!r}), notebooks=Path({str(nbs)!r}), "
            f"executed=Path({str(out)!r}), jobs=2)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.time() + 60
    # wait until both kernels have started their sleeping children
    while time.time() < deadline and len(_descendants(proc.pid)) < 7:  # 2 lanes, 2 kernels, 2 children (+ tracker)
        time.sleep(0.5)
    return proc, out


@pytest.mark.slow
def test_sigkill_of_a_book_leaves_no_process_behind(tmp_path):
    """Issue 28, item 3: lanes, their kernels and what the kernels started all end with the book."""
    import signal

    proc, out = _start_sleeping_book(tmp_path)
    assert len(_descendants(proc.pid)) >= 6, "the book's lanes and kernels did not start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5
    while time.time() < deadline and _descendants(proc.pid):
        time.sleep(0.2)
    assert _descendants(proc.pid) == set()
    assert "the last build" in (out / "_timings.json").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_book_leaves_no_temporary_folder_and_keeps_the_last_timings(tmp_path, sig):
    import signal
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("lskd-nb-*"))
    proc, out = _start_sleeping_book(tmp_path)
    during = set(Path(tempfile.gettempdir()).glob("lskd-nb-*")) - before
    assert during, "the lanes made no temporary folders"
    os.kill(proc.pid, getattr(signal, sig))
    proc.wait(timeout=60)
    deadline = time.time() + 10
    while time.time() < deadline and (_descendants(proc.pid) or any(p.exists() for p in during)):
        time.sleep(0.2)
    assert not any(p.exists() for p in during)
    assert _descendants(proc.pid) == set()
    assert "the last build" in (out / "_timings.json").read_text() and not (out / "_timings.building.json").exists()


def test_book_progress_estimates_the_time_left_from_the_last_timings():
    from lskd_core.notebook import BookProgress

    p = BookProgress(["a", "b", "c", "d"], {"a": 100.0, "b": 50.0, "c": 30.0}, "the last build's timings", lanes=2)
    assert p.expected["d"] == 60.0  # untimed: the mean of the timed chapters
    assert p.left_s() == (100 + 50 + 30 + 60) / 2
    p.started("a")
    p.start["a"] -= 40  # a has run 40 s of its expected 100
    p.done("b")
    assert abs(p.left_s() - (60 + 30 + 60) / 2) < 0.5
    assert p.line().startswith("[lskd book] 1/4 chapters") and "about" in p.line() and "s left" in p.line()
    p.start["a"] -= 100  # now past its expected 100 s: the estimate becomes a floor
    assert "at least" in p.line()
    # A first build has no timings to estimate from, and says so instead of guessing.
    first = BookProgress(["a", "b"], {}, "", lanes=2)
    assert "no estimate" in first.line() and "about" not in first.line()


def test_a_first_build_estimates_from_the_profiles_committed_cold_build(tmp_path):
    """On a fresh machine (no local timings) the estimate comes from results/book_timings/, and says so;
    this machine's own last build of the profile takes precedence once there is one."""
    from lskd_core.notebook import _last_durations, reference_timings_path

    ref = json.loads(reference_timings_path("tiny").read_text())
    assert ref["profile"] == "tiny" and {c["chapter"] for c in ref["chapters"]} == set(toc_chapters())
    durations, source = _last_durations(tmp_path / "_timings.json", "tiny")
    assert durations == {c["chapter"]: c["wall_s"] for c in ref["chapters"] if c["ok"]} and "committed" in source
    (tmp_path / "_timings.json").write_text(json.dumps({"profile": "tiny", "chapters": [
        {"chapter": "03_student_grid", "ok": True, "wall_s": 12.0}]}))
    assert _last_durations(tmp_path / "_timings.json", "tiny") == ({"03_student_grid": 12.0}, "the last build's timings")
    assert _last_durations(tmp_path / "_timings.json", "no_such_profile") == ({}, "")


def test_every_chapter_states_its_question():
    """The instructors' page lists each chapter's question from the chapter itself; none is dropped."""
    from lskd_core.notebook import chapter_question

    for stem in toc_chapters():
        assert chapter_question(read_notebook(NOTEBOOKS / f"{stem}.md")).endswith("?"), stem


@pytest.mark.slow
def test_the_browser_check_fails_on_a_planted_overflowing_table(tmp_path):
    """Issue 27: no table wider than the text column at 1280 px; the check measures it in Chromium."""
    from lskd_core.browser import check_book, chromium

    if chromium() is None:
        pytest.skip("no Chromium")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>t</title></head><body>"
            "<main style='width:780px'><p>text</p><table><tr><td>fits</td></tr></table>{}</main></body></html>")
    (tmp_path / "good.html").write_text(page.format(""))
    (tmp_path / "wide.html").write_text(page.format(
        "<table><tr>" + "".join(f"<td>column_{i}_with_a_long_unbreakable_value</td>" for i in range(12)) + "</tr></table>"))
    reports = {r.page: r.problems for r in check_book(tmp_path, screenshots=False)}
    assert reports["good.html"] == []
    assert len(reports["wide.html"]) == 1 and reports["wide.html"][0].startswith("overflow: table 2 is ")


def test_build_timings_are_the_running_builds_then_the_last_complete_ones(tmp_path):
    """What the reproducibility page and the instructors' page show: a fresh machine's first `make book`
    has no complete build yet, so the page must read the build it is part of."""
    from lskd_core.notebook import TIMINGS, TIMINGS_BUILDING, build_timings

    assert build_timings(tmp_path) is None
    running = {"pid": os.getpid(), "profile": "tiny", "chapters": [{"chapter": "03_student_grid", "wall_s": 1.0}]}
    (tmp_path / TIMINGS_BUILDING).write_text(json.dumps(running))
    assert build_timings(tmp_path) == {**running, "in_progress": True}
    (tmp_path / TIMINGS).write_text(json.dumps({**running, "pid": 1, "chapters": []}))
    assert build_timings(tmp_path)["in_progress"] is True  # the build in progress wins over the last one
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / TIMINGS_BUILDING).write_text(json.dumps({**running, "pid": int(dead.stdout)}))
    got = build_timings(tmp_path)  # a killed build's file is passed over
    assert got["in_progress"] is False and got["chapters"] == []
