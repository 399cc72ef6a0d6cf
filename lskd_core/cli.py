"""``lskd``: the one command line shared by the Makefile, the notebooks' readers and CI.

    lskd run notebooks/<chapter>.md -p temperature 4 -p alpha 0.2
    lskd book --profile tiny
    lskd book --profile cub200 --data-root ~/data/CUB_200_2011 --scale smoke
    lskd check-book [book/_build/html]   # every page in headless Chromium, with screenshots
    lskd course                          # the students' and instructors' editions of the built book
    lskd data verify fashion_mnist [--root PATH]
    lskd data list
    lskd train teacher --profile tiny --alpha 0.1
    lskd train students --profile tiny --alpha 0.1 --temperatures 1 2 3 64 --seed 0
    lskd train alone --profile small --seed 0 1 2   # the student on the labels alone: the gate's baseline
    lskd nmt prepare --profile tiny [--corpus iwslt --root PATH --src en --tgt de]
    lskd nmt grid --profile tiny --alphas 0 0.1 --temperatures 1 2 3 64 --seeds 0
    lskd runs list
    lskd runs verify                   # checksums of every cached run
    lskd runs gc [--dry-run]           # debris of killed runs
    lskd runs merge CACHE [CACHE ...]  # finished runs of shards trained elsewhere, into this cache
    lskd runs export --profile small   # claim records + run metrics made on a GPU, to commit
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _cmd_run(a: argparse.Namespace) -> int:
    from .notebook import execute, parse_value

    params = {k: parse_value(v) for k, v in a.parameter}
    r = execute(Path(a.notebook), params, Path(a.output) if a.output else None, progress=not a.quiet)
    if not r.ok:
        print(f"error: {r.error}", file=sys.stderr)
        return 1
    if r.does_not_apply:
        print(f"{a.notebook} does not apply: {r.does_not_apply} (page written to {r.output})")
        return 0
    print(f"executed {a.notebook} in {r.wall_s:.1f} s -> {r.output}")
    return 0


def _cmd_book(a: argparse.Namespace) -> int:
    from .notebook import execute_book

    t0 = time.perf_counter()
    results = execute_book(a.profile, progress=not a.quiet, data_root=a.data_root, scale=a.scale, jobs=a.jobs)
    failed = [r for r in results if not r.ok]
    print(f"[lskd book] {len(results) - len(failed)}/{len(results)} chapters executed in "
          f"{time.perf_counter() - t0:.0f} s")
    for r in failed:
        print(f"[lskd book] FAILED {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_course(a: argparse.Namespace) -> int:
    from .course import build_course

    built = build_course(Path(a.root), Path(a.out))
    for edition, html in built.items():
        print(f"{edition}s' edition: {html / 'index.html'}")
    return 0


def _cmd_data_verify(a: argparse.Namespace) -> int:
    from .data import verify

    counts = verify(a.name, a.root)
    print(f"{a.name}: OK {json.dumps(counts)}")
    return 0


def _cmd_data_list(a: argparse.Namespace) -> int:
    from .data import available, load_manifest

    for name in available():
        m = load_manifest(name)
        where = m.default_root or "brought by the user (--root)"
        print(f"{name:15s} {m.title} [{where}]")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from .profiles import get_profile, student_config, teacher_config
    from .train import train_students, train_teacher

    from .params import RULES

    prof = get_profile(a.profile)
    if a.seed is not None:
        RULES["seeds"](a.seed)
    if a.temperatures is not None:
        RULES["temperatures"](a.temperatures)
    RULES["alpha"](a.alpha)
    if not 0 <= a.beta <= 1:
        raise ValueError(f"--beta {a.beta} must lie in [0, 1]")
    over = {"data_root": a.data_root} if a.data_root else {}
    if a.amp:
        over["amp"] = a.amp
    # Seed s distils from the teacher of seed s, as the chapters' grids do. Every seed's
    # configs are built (and so checked) before anything trains.
    seeds = a.seed or (prof.seeds[:1] if a.what == "teacher" else prof.seeds)
    if a.what == "alone":
        if a.alpha or a.temperatures or a.beta:
            raise ValueError("--alpha, --temperatures and --beta describe distillation; a student trained alone "
                             "learns from the plain labels")
        from .experiments import ce_students

        for seed, run in ce_students(prof, seeds, **over).items():
            m = run.metrics()
            print(f"seed={seed} alone: final top-1 {m['final_top1']:.2f}  best {m['best_top1']:.2f}  ({run.path.name})")
        return 0
    configs = {s: (teacher_config(prof, a.alpha, s, **over), student_config(prof, s, **over)) for s in seeds}
    if a.what == "teacher":
        for tcfg, _ in configs.values():
            run = train_teacher(tcfg)
            print(json.dumps({k: v for k, v in run.metrics().items() if k != "curves"}, indent=1))
        return 0
    temps = a.temperatures or prof.temperatures
    for seed, (tcfg, scfg) in configs.items():
        runs = train_students(tcfg, scfg, temps, beta=a.beta)
        for t, run in runs.items():
            m = run.metrics()
            print(f"seed={seed} T={t:g}: final top-1 {m['final_top1']:.2f}  best {m['best_top1']:.2f}  ({run.path.name})")
    return 0


def _nmt_config(a: argparse.Namespace):
    from dataclasses import replace

    from .profiles import get_profile

    prof = get_profile(a.profile)
    prof.require("translation")
    over = {k: v for k, v in (("corpus", a.corpus), ("data_root", a.root), ("src", a.src), ("tgt", a.tgt)) if v}
    return replace(prof.nmt, **over).validate()


def _cmd_nmt(a: argparse.Namespace) -> int:
    from .nmt import pipeline

    cfg = _nmt_config(a)
    if a.nmt_cmd == "prepare":
        out = pipeline.prepare(cfg)
        print(f"prepared {out}: {json.loads((out / 'done.json').read_text())['used_counts']}")
        return 0
    t0 = time.perf_counter()
    from .config import check_temperatures
    from .profiles import get_profile

    temps = check_temperatures(a.temperatures or get_profile(a.profile).nmt_temperatures)
    rows = pipeline.run_grid(cfg, a.alphas, temps, a.seeds, jobs=a.jobs)
    for row in rows:
        print(json.dumps({k: row[k] for k in ("model", "alpha", "T", "seed", "bleu", "chrf")}))
    if a.export:
        from .records import save_translation

        body = pipeline.reference_body(rows, cfg, time.perf_counter() - t0)
        print(f"wrote {save_translation(a.profile, body, Path(a.export))}")
    return 0


def _cmd_runs_export(a: argparse.Namespace) -> int:
    from .records import export_reference
    from .paths import RESULTS

    written = export_reference(a.profile, Path(a.dest) if a.dest else RESULTS)
    if not written:
        print(f"error: no claim records for profile {a.profile!r} in the cache; run its chapters first",
              file=sys.stderr)
        return 2
    for p in written:
        print(f"wrote {p}")
    return 0


def _cmd_preregister(a: argparse.Namespace) -> int:
    from . import claims, prereg, testbed

    try:
        _, cand = prereg.candidate(a.profile)
        path = prereg.write(a.profile, claims.registration_rows(testbed.plain_kd_t1(cand), a.profile))
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: commit it before the reference runs start")
    return 0


def _cmd_runs_list(a: argparse.Namespace) -> int:
    from .cache import cache_root, list_runs

    rows = list_runs()
    print(f"{len(rows)} runs in {cache_root()}")
    for r in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items() if v is not None))
    return 0


def _cmd_check_book(a: argparse.Namespace) -> int:
    from .browser import check_book

    reports = check_book(Path(a.html), screenshots=not a.no_screenshots)
    bad = [r for r in reports if r.problems]
    for r in bad:
        for p in r.problems:
            print(f"{r.page}: {p}")
    shots = [r.screenshot for r in reports if r.screenshot]
    print(f"{len(reports) - len(bad)}/{len(reports)} pages clean in Chromium; "
          f"{len(shots)} screenshots in {Path(a.html) / '_screenshots'}")
    if bad:
        print(f"error: {len(bad)} page(s) with problems (listed above)", file=sys.stderr)
    return 1 if bad else 0


def _cmd_runs_verify(a: argparse.Namespace) -> int:
    from .cache import cache_root, list_runs

    rows = list_runs()
    bad = [r for r in rows if r["status"].startswith("damaged")]
    unfinished = [r for r in rows if r["status"] == "incomplete"]
    for r in bad:
        print(f"damaged  {cache_root() / r['run']}: {r['status'][len('damaged: '):]}")
    print(f"{len(rows) - len(bad) - len(unfinished)} finished runs intact, {len(unfinished)} unfinished, "
          f"{len(bad)} damaged in {cache_root()}")
    if bad:
        print("error: damaged runs are never served; they train again when a chapter needs them "
              "(or delete their folders)", file=sys.stderr)
    return 1 if bad else 0


def _cmd_runs_merge(a: argparse.Namespace) -> int:
    from .cache import cache_root, merge

    got = merge([Path(s) for s in a.sources])
    for name in got["skipped"]:
        print(f"skipped {name}")
    print(f"{len(got['copied'])} run(s) copied into {cache_root()}, {len(got['present'])} already there, "
          f"{len(got['skipped'])} skipped (unfinished or damaged)")
    return 0


def _cmd_runs_gc(a: argparse.Namespace) -> int:
    from .cache import cache_root, gc

    removed = gc(dry_run=a.dry_run)
    for p in removed:
        print(f"{'would remove' if a.dry_run else 'removed'} {p}")
    print(f"{len(removed)} debris item(s) {'found' if a.dry_run else 'removed'} in {cache_root()}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lskd", description="label smoothing x knowledge distillation")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="execute one chapter with papermill")
    r.add_argument("notebook")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    r.add_argument("-o", "--output")
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(func=_cmd_run)

    b = sub.add_parser("book", help="execute every chapter of _toc.yml")
    b.add_argument("--profile", default="tiny")
    b.add_argument("--data-root", help="the folder of the profile's data set, when you bring it (ImageNet, CUB, CIFAR-100)")
    b.add_argument("--scale", help="borrow this profile's epochs and sizes, keep the data and architectures (e.g. smoke)")
    b.add_argument("--jobs", type=int, help="chapters side by side, one CPU thread each (default: one per CPU "
                                           "core; 1: one at a time in table-of-contents order, all threads)")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=_cmd_book)

    cb = sub.add_parser("check-book", help="open every built page in headless Chromium, check it, screenshot it")
    cb.add_argument("html", nargs="?", default="book/_build/html")
    cb.add_argument("--no-screenshots", action="store_true")
    cb.set_defaults(func=_cmd_check_book)

    co = sub.add_parser("course", help="render the students' (no solutions) and instructors' editions of the built book")
    co.add_argument("--root", default=".", help="the book's folder (with _config.yml, _toc.yml and book/executed)")
    co.add_argument("--out", default="book/_build/course")
    co.set_defaults(func=_cmd_course)

    d = sub.add_parser("data", help="data sets")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    v = dsub.add_parser("verify", help="check a local copy against its manifest")
    v.add_argument("name")
    v.add_argument("--root", help="folder of the copy (default: the embedded location, if any)")
    v.set_defaults(func=_cmd_data_verify)
    dsub.add_parser("list").set_defaults(func=_cmd_data_list)

    t = sub.add_parser("train", help="train a teacher, a student sweep or the student alone (cached)")
    t.add_argument("what", choices=["teacher", "students", "alone"],
                   help="alone: the student on the labels with cross-entropy, the distillation gate's baseline")
    t.add_argument("--profile", default="tiny")
    t.add_argument("--alpha", type=float, default=0.0, help="teacher label smoothing")
    t.add_argument("--temperatures", type=float, nargs="+")
    t.add_argument("--seed", type=int, nargs="+")
    t.add_argument("--beta", type=float, default=0.0, help="hard-label weight (paper: 0)")
    t.add_argument("--data-root")
    t.add_argument("--amp", choices=["off", "bf16", "fp16"], help="mixed precision on CUDA (default: the profile's)")
    t.set_defaults(func=_cmd_train)

    n = sub.add_parser("nmt", help="translation with fairseq (needs the nmt extra)")
    nsub = n.add_subparsers(dest="nmt_cmd", required=True)
    for name, text in (("prepare", "build the corpus, sentencepiece model and fairseq binaries"),
                       ("grid", "train teachers and KD students, then score BLEU")):
        q = nsub.add_parser(name, help=text)
        q.add_argument("--profile", default="tiny")
        q.add_argument("--corpus", choices=["gettext", "iwslt"])
        q.add_argument("--root", help="unpacked IWSLT folder (or a folder of .mo files)")
        q.add_argument("--src")
        q.add_argument("--tgt")
        if name == "grid":
            q.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1])
            q.add_argument("--temperatures", type=float, nargs="+", help="default: the profile's own list")
            q.add_argument("--seeds", type=int, nargs="+", default=[0])
            q.add_argument("--jobs", type=int, help="fairseq processes side by side (default: one per CPU core)")
            q.add_argument("--export", metavar="DIR", help="also write the rows to DIR/<profile>.json "
                                                          "(results/nmt is what the book reads)")
        q.set_defaults(func=_cmd_nmt)

    rl = sub.add_parser("runs", help="the run cache")
    rsub = rl.add_subparsers(dest="runs_cmd", required=True)
    rsub.add_parser("list").set_defaults(func=_cmd_runs_list)
    rsub.add_parser("verify", help="check every cached run against its checksums").set_defaults(func=_cmd_runs_verify)
    g = rsub.add_parser("gc", help="remove debris: temporary files, orphaned sweeps, leftovers of killed runs")
    g.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    g.set_defaults(func=_cmd_runs_gc)
    mg = rsub.add_parser("merge", help="copy the finished runs of other run caches (shards trained elsewhere) into this one")
    mg.add_argument("sources", nargs="+")
    mg.set_defaults(func=_cmd_runs_merge)
    ex = rsub.add_parser("export", help="copy a profile's claim records and run metrics to results/ (to commit)")
    ex.add_argument("--profile", required=True)
    ex.add_argument("--dest", help="default: results/ in the repository")
    ex.set_defaults(func=_cmd_runs_export)
    pr = sub.add_parser("preregister", help="write results/preregistration.toml: a profile's testbed, seeds, code "
                                            "commit and expected effects, before its reference runs")
    pr.add_argument("--profile", default="base")
    pr.set_defaults(func=_cmd_preregister)
    return p


def main(argv: list[str] | None = None) -> int:
    from .data import DataError
    from .params import ParameterError

    import signal

    from .cache import DamagedRun

    a = parser().parse_args(argv)
    # TERM unwinds like Ctrl-C, so temporary folders and locks are released on the way out.
    # The exit it raises can be swallowed where it lands (inside a __del__ or a weakref
    # callback, where Python only prints it): the flag still makes the command end in 143.
    terminated = []

    def on_term(*_):
        terminated.append(True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        from .settings import check

        check()  # a bad environment variable fails here, named, before any work
        rc = a.func(a)
        return 143 if terminated else rc
    except (DataError, ParameterError, ValueError, FileNotFoundError, ImportError, DamagedRun) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only or full cache, a cache path that is a file, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished runs are kept and an unfinished one resumes from its last checkpoint",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
