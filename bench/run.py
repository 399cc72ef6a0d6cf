"""Side-by-side benchmarks; every figure is a ratio of two timings taken in this one run.

    python bench/run.py [--quick] [--json OUT]

1. Batched students: one step of 4 students stacked (one vmapped forward,
   backward and optimizer step) against the 4 stepped one after another, on
   the tiny and base profiles' students. Then the whole shared-teacher sweep
   of 4 temperatures against 4 separate KD runs.
2. The engine's loop against a minimal plain-PyTorch loop (same model, data,
   batches, augmentation and per-epoch evaluation).
3. eta on ImageNet-sized synthetic features (1.28M x 512, 1000 classes).
4. On a GPU only: ResNet-50 -> ResNet-18 KD images/s at 224 px (bf16,
   channels_last, synthetic tensors) against plain ResNet-18 training.
5. CPU levers on the tiny profile's student: contiguous (NCHW) against
   channels_last tensors, batch 128 against 256, 28x28 against 14x14 input,
   one thread against two, and a checkpoint after every epoch against the
   30-second cadence. Each pair trains the same run both ways.

Timings alternate between the two sides (A B A B ...) and the median of each
side is used, so slow drift of the machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lskd_core import losses  # noqa: E402
from lskd_core.data.prepared import augment_batch  # noqa: E402
from lskd_core.models import build  # noqa: E402
from lskd_core.config import TrainConfig, lr_at  # noqa: E402
from lskd_core.data.batching import load_data, stream  # noqa: E402
from lskd_core.loop import predict, topk_accuracy  # noqa: E402
from lskd_core.train import train_students, train_teacher  # noqa: E402


def _sync() -> None:
    if torch.cuda.is_available():  # GPU work is queued: a timing ends when the queue has run
        torch.cuda.synchronize()


def _timed(fn) -> float:
    _sync()
    t0 = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - t0


def _alternate(a, b, repeats: int) -> tuple[float, float]:
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(_timed(a))
        tb.append(_timed(b))
    return statistics.median(ta), statistics.median(tb)


def _fresh_cache() -> None:
    os.environ["LSKD_CACHE"] = tempfile.mkdtemp(prefix="lskd-bench-")


# ---------------------------------------------------------------- 1. shared teacher


def bench_sweep(quick: bool) -> dict:
    n = 1000 if quick else 3000
    tcfg = TrainConfig(arch="resnet_m", n_train=n, n_test=500, num_epochs=1, batch_size=128)
    scfg = TrainConfig(arch="convnet_s", n_train=n, n_test=500, num_epochs=1, batch_size=128)
    temps = [1.0, 2.0, 3.0, 64.0]
    _fresh_cache()
    train_teacher(tcfg, progress=False)  # cached below: both sides use the same trained teacher
    teacher_cache = os.environ["LSKD_CACHE"]

    # The cost ratio of one teacher forward to one student training step, on one batch.
    data = load_data(scfg)
    x = data.train.x[:128]
    teacher = build("resnet_m", 1, 10, True).eval()
    student = build("convnet_s", 1, 10, True)
    opt = torch.optim.SGD(student.parameters(), lr=0.01)

    def t_fwd():
        with torch.no_grad():
            teacher(x)

    def s_step():
        loss = student(x).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        t_fwd(), s_step()
    tf, ss = _alternate(t_fwd, s_step, 15)

    def sweep():
        os.environ["LSKD_CACHE"] = tempfile.mkdtemp(dir=teacher_cache)
        _link_teacher(teacher_cache)
        train_students(tcfg, scfg, temps, progress=False)

    def separate():
        for t in temps:
            os.environ["LSKD_CACHE"] = tempfile.mkdtemp(dir=teacher_cache)
            _link_teacher(teacher_cache)
            train_students(tcfg, scfg, [t], progress=False)

    sweep()  # warm-up
    t_sweep, t_sep = _alternate(sweep, separate, 2 if quick else 3)
    return {"teacher_forward_over_student_step": tf / ss, "sweep_s": t_sweep, "separate_s": t_sep,
            "speedup": t_sep / t_sweep, "n_train": n, "temperatures": temps}


def _link_teacher(src: str) -> None:
    """Make the trained teacher visible in the fresh cache without retraining it."""
    dst = Path(os.environ["LSKD_CACHE"])
    for p in Path(src).glob("teacher-*"):
        (dst / p.name).symlink_to(p)


# ---------------------------------------------------------------- 1b. batched students


def _stacked_step(net, optimizer, methods, x, y, t_out):
    """One training step of a stack of students (how the loop trains a sweep), as a closure to time."""
    from lskd_core.methods import Outputs, total

    def step():
        z, _ = net(x)
        loss = torch.stack([total(m(Outputs(z[i]), y, t_out, 0)) for i, m in enumerate(methods)]).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def bench_batched(quick: bool, size: int = 4) -> dict:
    """One training step of ``size`` students: stacked (one vmapped forward, backward and
    optimizer step, as the loop trains a sweep) against one after another on the same batch.

    On a GPU, the ``small`` profile's ResNet students too (the profile meant for one)."""
    from dataclasses import replace

    from lskd_core.loop import Stack
    from lskd_core.methods import KD, Outputs, total
    from lskd_core.profiles import get_profile

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = {}
    for prof in ("tiny", "base") + (("small",) if dev.type == "cuda" else ()):
        cfg = replace(get_profile(prof).student, n_train=2048, n_test=256)
        tcfg = get_profile(prof).teacher
        data = load_data(cfg)
        x, y = data.train.x[:cfg.batch_size].to(dev), data.train.y[:cfg.batch_size].to(dev)
        teacher = build(tcfg.arch, 1, 10, tcfg.small_input).to(dev).eval()
        with torch.no_grad():
            t_out = Outputs(teacher(x))
        temps = [1.0, 2.0, 3.0, 64.0][:size] + [4.0] * max(0, size - 4)
        torch.manual_seed(0)
        models = [build(cfg.arch, 1, 10, cfg.small_input) for _ in temps]
        methods = [KD(t) for t in temps]
        stack = Stack(models).to(dev)  # built on the CPU, then moved, as the loop does
        models = [m.to(dev) for m in models]
        opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4) for m in models]
        sopt = torch.optim.SGD(stack.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def sequential():
            for m, meth, o in zip(models, methods, opts):
                loss = total(meth(Outputs(m(x)), y, t_out, 0))
                o.zero_grad(set_to_none=True)
                loss.backward()
                o.step()

        batched = _stacked_step(stack, sopt, methods, x, y, t_out)

        steps = 5 if quick else 20

        def many(fn):
            return lambda: [fn() for _ in range(steps)]

        for _ in range(3):
            sequential(), batched()
        t_seq, t_bat = _alternate(many(sequential), many(batched), 3 if quick else 5)
        # channels_last, both sides: it speeds up max-pooling and batch norm on a CPU.
        for m in models:
            m.to(memory_format=torch.channels_last)
        stack.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        for _ in range(2):
            sequential(), batched()
        t_seq_cl, t_bat_cl = _alternate(many(sequential), many(batched), 3 if quick else 5)
        out[prof] = {"device": str(dev), "students": len(temps), "arch": cfg.arch, "batch": cfg.batch_size, "fused": stack.fused,
                     "input": f"{x.shape[-2]}x{x.shape[-1]}", "sequential_ms_per_step": 1000 * t_seq / steps,
                     "batched_ms_per_step": 1000 * t_bat / steps, "speedup": t_seq / t_bat,
                     "channels_last_sequential_ms_per_step": 1000 * t_seq_cl / steps,
                     "channels_last_batched_ms_per_step": 1000 * t_bat_cl / steps,
                     "channels_last_speedup": t_seq_cl / t_bat_cl,
                     "channels_last_batched_over_default_sequential": t_seq / t_bat_cl}
    return out


# ---------------------------------------------------------------- 2. loop overhead


def bench_loop(quick: bool) -> dict:
    cfg = TrainConfig(arch="convnet_m", n_train=1000 if quick else 3000, n_test=500, num_epochs=2, batch_size=128)
    data = load_data(cfg)

    def plain():
        torch.manual_seed(cfg.seed)
        model = build(cfg.arch, 1, 10, True)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        n = len(data.train.y)
        steps = -(-n // cfg.batch_size)
        for epoch in range(cfg.num_epochs):
            model.train()
            order = torch.randperm(n, generator=stream(cfg.seed, epoch, 0))
            for b, s in enumerate(range(0, n, cfg.batch_size)):
                idx = order[s: s + cfg.batch_size]
                xb = augment_batch(data.train.x[idx], data.train.pad, stream(cfg.seed, epoch, b + 1))
                for g in opt.param_groups:
                    g["lr"] = lr_at(cfg, epoch + b / steps)
                loss = losses.ls_cross_entropy(model(xb), data.train.y[idx], cfg.alpha)
                opt.zero_grad()
                loss.backward()
                opt.step()
            z, y, _ = predict(model, data.test, cfg, batch_size=256)
            topk_accuracy(z, y, 1)

    def engine():
        _fresh_cache()
        train_teacher(cfg, progress=False)

    engine(), plain()  # warm-up
    t_engine, t_plain = _alternate(engine, plain, 3 if quick else 5)
    return {"engine_s": t_engine, "plain_s": t_plain, "overhead": t_engine / t_plain - 1}


# ---------------------------------------------------------------- 3. analysis speed


def bench_eta(quick: bool) -> dict:
    from lskd_core.analysis import diffusion

    n, d, k = (128_000 if quick else 1_281_167), 512, 1000
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, k, (n,), generator=g)
    feats = torch.randn(n, d, generator=g)
    t0 = time.perf_counter()
    c1 = diffusion.centroids(feats, labels, k)
    t_cent = time.perf_counter() - t0
    c2 = c1 + 0.01 * torch.randn(k, d, generator=g, dtype=torch.float64)
    t0 = time.perf_counter()
    for target in range(10):
        d1, d2 = diffusion.centroid_distances(c1, target), diffusion.centroid_distances(c2, target)
        diffusion.diffusion_index(d1, d2, target, list(range(10, 20)))
        diffusion.diffusion_index(d1, d2, target, list(range(100, 1000)))
    t_eta = time.perf_counter() - t0
    return {"n": n, "dim": d, "classes": k, "centroids_s": t_cent, "eta_10_targets_s": t_eta}


# ---------------------------------------------------------------- 5. CPU levers


def bench_levers(quick: bool) -> dict:
    from dataclasses import replace

    from lskd_core.profiles import get_profile

    base = replace(get_profile("tiny").student, n_train=6000 if quick else 20000, n_test=1000, num_epochs=1)
    threads = torch.get_num_threads()

    def run(cfg, ckpt_s: str = "30", n_threads: int = threads):
        def go():
            _fresh_cache()
            os.environ["LSKD_CHECKPOINT_SECONDS"] = ckpt_s
            torch.set_num_threads(n_threads)
            try:
                train_teacher(cfg, progress=False)
            finally:
                torch.set_num_threads(threads)
        return go

    pairs = {
        "contiguous_over_channels_last": (run(replace(base, channels_last=False)), run(replace(base, channels_last=True))),
        "batch128_over_batch256": (run(replace(base, batch_size=128, lr=base.lr / 2)), run(base)),
        "28px_over_14px": (run(replace(base, downsample=1)), run(base)),
        "1_thread_over_default_threads": (run(base, n_threads=1), run(base)),
        "ckpt_every_epoch_over_30s": (run(replace(base, num_epochs=3), "0"), run(replace(base, num_epochs=3), "30")),
    }
    out = {"config": f"{base.arch}, {base.n_train} images, batch {base.batch_size}, 1 epoch, {threads} threads"}
    for name, (a, b) in pairs.items():
        a(), b()  # warm-up
        ta, tb = _alternate(a, b, 2 if quick else 3)
        out[name] = ta / tb
    return out


def bench_layout(quick: bool) -> dict:
    """Inference of channels_last batches (how the CPU profiles feed models) by a model whose weights are
    NCHW, as a freshly loaded model's are, against the same model in channels_last: the sweep's teacher
    forward and a chapter's ``predict`` over the test split."""
    from dataclasses import replace

    from lskd_core.profiles import get_profile

    prof = get_profile("tiny")
    cfg = replace(prof.teacher, n_train=512, n_test=2000 if quick else 10000)
    data = load_data(cfg)
    x = data.train.x[:prof.student.batch_size].contiguous(memory_format=torch.channels_last)
    nchw = build(cfg.arch, 1, 10, cfg.small_input).eval()
    cl = build(cfg.arch, 1, 10, cfg.small_input).eval()
    cl.load_state_dict(nchw.state_dict())
    cl.to(memory_format=torch.channels_last)

    def forward(model):
        def go():
            with torch.no_grad():
                for _ in range(5 if quick else 20):
                    model(x)
        return go

    def predict_nchw():  # predict on a loaded model before load_model set its layout: only the input was converted
        with torch.no_grad():
            for i in range(0, len(data.test.y), 512):
                nchw(data.test.x[i:i + 512].contiguous(memory_format=torch.channels_last))

    for _ in range(2):
        forward(nchw)(), forward(cl)()
    t_nchw, t_cl = _alternate(forward(nchw), forward(cl), 3 if quick else 5)
    p_nchw, p_cl = _alternate(predict_nchw, lambda: predict(cl, data.test, cfg), 3 if quick else 5)
    return {"model": f"{cfg.arch} teacher, {x.shape[-1]}px", "teacher_forward_nchw_over_channels_last": t_nchw / t_cl,
            "predict_nchw_over_channels_last": p_nchw / p_cl, "test_images": len(data.test.y)}


def bench_table(quick: bool) -> dict:
    """A tiny sweep of 4 students (no augmentation) reading the teacher's logits from the table computed
    once, against running the teacher at every step (what it replaced), side by side."""
    from dataclasses import replace

    from lskd_core import loop
    from lskd_core.profiles import get_profile

    prof = get_profile("tiny")
    n = 6000 if quick else 20000
    tcfg = replace(prof.teacher, n_train=n, n_test=1000, num_epochs=1)
    scfg = replace(prof.student, n_train=n, n_test=1000, num_epochs=2)
    _fresh_cache()
    train_teacher(tcfg, progress=False)
    teacher_cache = os.environ["LSKD_CACHE"]
    table = loop._Training.teacher_table

    def sweep(use_table: bool):
        def go():
            os.environ["LSKD_CACHE"] = tempfile.mkdtemp(dir=teacher_cache)
            _link_teacher(teacher_cache)
            loop._Training.teacher_table = table if use_table else (lambda self, split: None)
            try:
                train_students(tcfg, scfg, [1.0, 2.0, 3.0, 64.0], progress=False)
            finally:
                loop._Training.teacher_table = table
        return go

    sweep(True)()
    t_step, t_table = _alternate(sweep(False), sweep(True), 2 if quick else 3)
    return {"config": f"4 {scfg.arch} students, {n} images, {scfg.num_epochs} epochs", "per_step_s": t_step,
            "table_s": t_table, "per_step_over_table": t_step / t_table}


def bench_compile(quick: bool) -> dict:
    """``torch.compile`` (inductor, CPU) of the tiny profile's batched sweep against eager, per step."""
    from dataclasses import replace

    from lskd_core.batched import Stack
    from lskd_core.methods import KD, Outputs
    from lskd_core.profiles import get_profile

    cfg = replace(get_profile("tiny").student, n_train=1024, n_test=256)
    data = load_data(cfg)
    x = data.train.x[:cfg.batch_size].contiguous(memory_format=torch.channels_last)
    y = data.train.y[:cfg.batch_size]
    t_out = Outputs(torch.randn(len(y), 10))
    torch.manual_seed(0)
    stack = Stack([build(cfg.arch, 1, 10, True) for _ in range(4)]).to(memory_format=torch.channels_last)
    methods = [KD(t) for t in (1.0, 2.0, 3.0, 64.0)]
    opt = torch.optim.SGD(stack.parameters(), lr=0.01, momentum=0.9)
    compiled = torch.compile(stack)

    eager, comp = (_stacked_step(net, opt, methods, x, y, t_out) for net in (stack, compiled))
    t0 = time.perf_counter()
    comp()
    first = time.perf_counter() - t0
    steps = 5 if quick else 20
    for _ in range(2):
        eager(), comp()
    t_e, t_c = _alternate(lambda: [eager() for _ in range(steps)], lambda: [comp() for _ in range(steps)], 3)
    return {"eager_ms_per_step": 1000 * t_e / steps, "compiled_ms_per_step": 1000 * t_c / steps,
            "compiled_speedup": t_e / t_c, "first_compiled_step_s": first,
            # None: compiled steps are not faster, so compiling never pays
            "epochs_to_repay_compilation": (first / ((t_e - t_c) / steps * num_steps_per_epoch(cfg))
                                            if t_c < t_e else None)}


def num_steps_per_epoch(cfg) -> int:
    return -(-60000 // cfg.batch_size)


# ---------------------------------------------------------------- 4. GPU throughput


def resnet_kd(device: torch.device):
    """ResNet-50 -> ResNet-18 KD at T = 4, channels_last, bf16 on CUDA (``amp``): the paper's ImageNet pair.

    Returns the student, its optimizer and ``step(x, amp=True)``, one training step on a batch ``x``.
    """
    from torchvision.models import resnet18, resnet50

    teacher = resnet50().to(device, memory_format=torch.channels_last).eval()
    student = resnet18().to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)

    def step(x: torch.Tensor, amp: bool = True) -> None:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            with torch.no_grad():
                t = teacher(x).float()
            loss = losses.kd_loss(student(x).float(), t, 4.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return student, opt, step


def bench_gpu() -> dict:
    if not torch.cuda.is_available():
        return {"skipped": "no GPU on this machine"}
    dev, bs = torch.device("cuda"), 256
    x = torch.randn(bs, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (bs,), device=dev)
    student, opt, kd = resnet_kd(dev)

    def kd_step(amp: bool = True):
        kd(x, amp)

    def ce_step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(student(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def rate(step, n=30):
        for _ in range(5):
            step()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        torch.cuda.synchronize()
        return n * bs / (time.perf_counter() - t0)

    kd, ce, kd32 = rate(kd_step), rate(ce_step), rate(lambda: kd_step(False))
    return {"gpu": torch.cuda.get_device_name(0), "batch": bs, "kd_images_per_s": kd, "ce_images_per_s": ce,
            "kd_over_ce": kd / ce, "kd_fp32_images_per_s": kd32, "bf16_over_fp32": kd / kd32}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke); ratios are noisier")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--only", nargs="+", choices=["batched", "sweep", "loop", "eta", "gpu", "levers", "layout", "table", "compile"],
                   help="run only these benchmarks")
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("LSKD_THREADS", torch.get_num_threads())))
    out = {"machine": f"{platform.machine()} {platform.processor()}, {torch.get_num_threads()} threads, "
                      f"torch {torch.__version__}", "quick": a.quick, "date": time.strftime("%Y-%m-%d %H:%M")}
    for name, fn in (("batched", lambda: bench_batched(a.quick)), ("sweep", lambda: bench_sweep(a.quick)), ("loop", lambda: bench_loop(a.quick)),
                     ("eta", lambda: bench_eta(a.quick)), ("gpu", bench_gpu),
                     ("levers", lambda: bench_levers(a.quick)), ("layout", lambda: bench_layout(a.quick)),
                     ("table", lambda: bench_table(a.quick)),
                     ("compile", lambda: bench_compile(a.quick))):
        if a.only and name not in a.only:
            continue
        t0 = time.perf_counter()
        out[name] = fn()
        print(f"[{name}] {time.perf_counter() - t0:.0f} s: {json.dumps(out[name], default=float)}", flush=True)
    print("\nratios (measured side by side in this run)")
    for prof, b in out.get("batched", {}).items():
        print(f"  batched vs sequential on {b['device']}, {b['students']} {b['arch']} students ({prof}: {b['input']}, batch "
              f"{b['batch']}): {b['speedup']:.2f}x faster per step ({b['sequential_ms_per_step']:.1f} -> "
              f"{b['batched_ms_per_step']:.1f} ms); with channels_last on both sides "
              f"{b['channels_last_speedup']:.2f}x ({b['channels_last_sequential_ms_per_step']:.1f} -> "
              f"{b['channels_last_batched_ms_per_step']:.1f} ms), i.e. "
              f"{b['channels_last_batched_over_default_sequential']:.2f}x the old engine's sequential step")
    if "sweep" in out:
        s = out["sweep"]
        print(f"  shared-teacher sweep of 4 T vs 4 separate runs: {s['speedup']:.2f}x faster "
              f"(teacher forward = {s['teacher_forward_over_student_step']:.1f}x a student step)")
    if "loop" in out:
        print(f"  engine loop vs plain PyTorch loop: {100 * out['loop']['overhead']:+.1f}% time")
    if "eta" in out:
        e = out["eta"]
        print(f"  eta: centroids of {e['n']:,} x {e['dim']} features in {e['centroids_s']:.1f} s; "
              f"eta for 10 targets in {e['eta_10_targets_s']:.3f} s")
    if "levers" in out:
        lv = out["levers"]
        print(f"  CPU levers ({lv['config']}), time ratios (>1: the first is slower):")
        for k, v in lv.items():
            if k != "config":
                print(f"    {k}: {v:.2f}")
    if "layout" in out:
        lo = out["layout"]
        print(f"  NCHW weights on channels_last batches vs channels_last weights ({lo['model']}): teacher forward "
              f"{lo['teacher_forward_nchw_over_channels_last']:.2f}x slower, predict over {lo['test_images']:,} test "
              f"images {lo['predict_nchw_over_channels_last']:.2f}x slower")
    if "table" in out:
        tb = out["table"]
        print(f"  teacher's logits from a table computed once vs a teacher forward per step ({tb['config']}): "
              f"{tb['per_step_over_table']:.2f}x ({tb['per_step_s']:.1f} -> {tb['table_s']:.1f} s)")
    if "compile" in out:
        c = out["compile"]
        print(f"  torch.compile (CPU, inductor) of the tiny batched sweep: {c['compiled_speedup']:.2f}x per step "
              f"({c['eager_ms_per_step']:.1f} -> {c['compiled_ms_per_step']:.1f} ms); first step "
              f"{c['first_compiled_step_s']:.0f} s, " + (f"repaid after {c['epochs_to_repay_compilation']:.1f} epochs"
                                                         if c["epochs_to_repay_compilation"] else "never repaid"))
    if "kd_over_ce" in out.get("gpu", {}):
        g = out["gpu"]
        print(f"  GPU {g['gpu']}: KD {g['kd_images_per_s']:.0f} img/s vs CE {g['ce_images_per_s']:.0f} img/s "
              f"(ratio {g['kd_over_ce']:.2f}); KD bf16 autocast vs fp32: {g['bf16_over_fp32']:.2f}x")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
