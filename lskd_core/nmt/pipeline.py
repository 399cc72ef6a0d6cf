"""Translation experiments with fairseq: prepare a corpus, train LS teachers and KD students, score BLEU.

Each step runs fairseq's own command-line modules in a subprocess and is
cached in the run cache (``<cache>/nmt-<key>/``) under a key of its full
configuration and the code version, like the image runs. A step whose folder
holds ``done.json`` is never redone. fairseq is the optional extra ``nmt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .. import cache
from ..dist import cpus
from ..io import atomic_write_json, file_sha256
from ..paths import PACKAGE
from ..proc import die_with_parent
from . import corpus as corpus_mod

PLUGIN_DIR = PACKAGE / "nmt" / "fairseq_plugin"
# Grids run on another machine (a GPU) and committed, like the image reference records.


@dataclass(frozen=True)
class NMTConfig:
    """One translation run; the defaults are the book's CPU-sized profile."""

    corpus: str = "gettext"  # "gettext" (embedded, En->De) or "iwslt" (brought by the user: data_root)
    data_root: str | None = None
    src: str = "en"
    tgt: str = "de"
    n_train: int | None = 12000  # training pairs (first n of the deterministic train split); None = all
    vocab_size: int = 2000
    embed_dim: int = 128
    ffn_dim: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    lr: float = 1e-3  # the paper uses 5e-4 with far more updates
    warmup_updates: int = 200
    max_tokens: int = 4096
    max_epoch: int = 8
    seed: int = 0
    alpha: float = 0.0  # teacher label smoothing
    temperature: float | None = None  # None = a teacher; else a KD student of ``teacher``
    beta: float = 0.0
    beam: int = 4
    student_epochs: int | None = None  # None = max_epoch

    def validate(self) -> "NMTConfig":
        if self.corpus not in ("gettext", "iwslt"):
            raise ValueError(f"corpus must be 'gettext' or 'iwslt', got {self.corpus!r}")
        if self.corpus == "iwslt" and not self.data_root:
            raise ValueError("the iwslt corpus is brought by the user: set data_root to the unpacked archive")
        if self.corpus == "gettext" and (self.src, self.tgt) != ("en", "de"):
            raise ValueError("the gettext corpus is English->German only")
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"alpha must lie in [0, 1), got {self.alpha}")
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.temperature is not None and self.alpha:
            raise ValueError("a student learns from its teacher's soft targets; its own alpha must be 0")
        return self


def _require_fairseq() -> None:
    import importlib.util

    if importlib.util.find_spec("fairseq") is None:
        raise ImportError("the translation chapter needs the optional extra: pip install -e '.[nmt]' "
                          "(see README, 'Translation')")


def use_cuda() -> bool:
    """fairseq runs on the GPU when there is one; ``LSKD_DEVICE=cpu`` forces the CPU.

    The device is not part of a run's key: like the image runs, a translation
    run records the hardware it ran on (``hardware()``) instead.
    """
    from ..settings import device

    if device() == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


def hardware() -> str:
    import torch

    if use_cuda():
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"CPU, {os.cpu_count()} cores (torch {torch.__version__})"


def _device_args() -> list[str]:
    return [] if use_cuda() else ["--cpu"]


# One CPU thread per fairseq process, always: the thread count changes the order of
# floating-point reductions, hence the weights (measured: a smoke teacher trained
# with 1 and with 2 threads differs, twice with 1 thread is bitwise equal). A
# fixed count makes a grid's numbers independent of --jobs and of the machine.
FAIRSEQ_THREADS = 1


def _run(module: str, args: list[str], log: Path) -> None:
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "OMP_NUM_THREADS": str(FAIRSEQ_THREADS),
           "MKL_NUM_THREADS": str(FAIRSEQ_THREADS)}
    with open(log, "a") as fh:
        # fairseq ends with the process that started it, even one killed with SIGKILL (issue 28).
        r = subprocess.run([sys.executable, "-m", module, *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                           preexec_fn=die_with_parent)
    if r.returncode:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"{module} failed (exit {r.returncode}); the end of {log}:\n{tail}")


def _step_dir(kind: str, conf: dict) -> Path:
    return cache.run_dir(f"nmt-{kind}", conf, family="nmt").path


def _load_corpus(cfg: NMTConfig) -> tuple[dict[str, list[tuple[str, str]]], dict]:
    if cfg.corpus == "gettext":
        c = corpus_mod.build(Path(cfg.data_root) if cfg.data_root else corpus_mod.DEFAULT_ROOT)
        return dict(c.splits), c.manifest
    from . import iwslt

    splits = iwslt.load(cfg.data_root, cfg.src, cfg.tgt)
    return splits, {"root": cfg.data_root, "counts": {k: len(v) for k, v in splits.items()}}


def prepare(cfg: NMTConfig) -> Path:
    """Corpus -> sentencepiece -> fairseq binaries. Returns the folder holding ``bin/`` and ``raw/``."""
    cfg.validate()
    _require_fairseq()
    import sentencepiece as spm

    conf = {"corpus": cfg.corpus, "root": cfg.data_root, "pair": [cfg.src, cfg.tgt], "n_train": cfg.n_train,
            "vocab_size": cfg.vocab_size}
    out = _step_dir("data", conf)
    if (out / "done.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    splits, manifest = _load_corpus(cfg)
    if cfg.n_train is not None:
        splits["train"] = splits["train"][: cfg.n_train]
    raw = out / "raw"
    raw.mkdir(exist_ok=True)
    src, tgt = cfg.src, cfg.tgt
    for name, pairs in splits.items():
        (raw / f"{name}.{src}").write_text("".join(f"{a}\n" for a, _ in pairs))
        (raw / f"{name}.{tgt}").write_text("".join(f"{b}\n" for _, b in pairs))
    joint = raw / "spm_train.txt"
    joint.write_text((raw / f"train.{src}").read_text() + (raw / f"train.{tgt}").read_text())
    spm.SentencePieceTrainer.train(input=str(joint), model_prefix=str(out / "spm"), vocab_size=cfg.vocab_size,
                                   character_coverage=1.0, model_type="unigram", num_threads=1,
                                   input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    tok = out / "tok"
    tok.mkdir(exist_ok=True)
    for name in splits:
        for lang in (src, tgt):
            lines = (raw / f"{name}.{lang}").read_text().splitlines()
            (tok / f"{name}.{lang}").write_text("".join(" ".join(sp.encode(s, out_type=str)) + "\n" for s in lines))
    _run("fairseq_cli.preprocess", ["--source-lang", src, "--target-lang", tgt, "--trainpref", str(tok / "train"),
                                    "--validpref", str(tok / "valid"), "--testpref", str(tok / "test"),
                                    "--destdir", str(out / "bin"), "--joined-dictionary", "--workers", "1"],
         out / "log.txt")
    atomic_write_json(out / "done.json", {**manifest, "used_counts": {k: len(v) for k, v in splits.items()}})
    return out


def _arch_args(cfg: NMTConfig) -> list[str]:
    return ["--arch", "transformer", "--share-all-embeddings",
            "--encoder-embed-dim", str(cfg.embed_dim), "--decoder-embed-dim", str(cfg.embed_dim),
            "--encoder-ffn-embed-dim", str(cfg.ffn_dim), "--decoder-ffn-embed-dim", str(cfg.ffn_dim),
            "--encoder-layers", str(cfg.layers), "--decoder-layers", str(cfg.layers),
            "--encoder-attention-heads", str(cfg.heads), "--decoder-attention-heads", str(cfg.heads),
            "--dropout", str(cfg.dropout)]


def train_args(cfg: NMTConfig, data: Path, out: Path, teacher: Path | None = None,
               epoch_checkpoints: bool = False) -> list[str]:
    """fairseq-train's arguments for a teacher (``teacher`` None) or a KD student, saving to ``out``.

    ``epoch_checkpoints`` keeps ``checkpoint<N>.pt`` of every epoch (the teachers' BLEU-against-
    training-time curve, bench/nmt_curve.py); the grid keeps only the last.
    """
    if teacher is None:
        crit = ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", str(cfg.alpha)]
    else:
        crit = ["--user-dir", str(PLUGIN_DIR), "--criterion", "lskd_kd", "--teacher-path", str(teacher),
                "--kd-temperature", str(cfg.temperature), "--kd-beta", str(cfg.beta)]
    return [str(data / "bin"), *_arch_args(cfg), *crit, "--optimizer", "adam",
            "--adam-betas", "(0.9, 0.98)", "--lr", str(cfg.lr), "--lr-scheduler",
            "inverse_sqrt", "--warmup-updates", str(cfg.warmup_updates), "--weight-decay", "0.0",
            "--max-tokens", str(cfg.max_tokens), "--max-epoch", str(cfg.max_epoch),
            "--seed", str(cfg.seed), *_device_args(), *([] if epoch_checkpoints else ["--no-epoch-checkpoints"]),
            "--no-progress-bar", "--log-format", "simple", "--save-dir", str(out),
            "--num-workers", "0"]


def train(cfg: NMTConfig, data: Path, teacher: Path | None = None) -> Path:
    """A teacher (``label_smoothed_cross_entropy`` at ``alpha``) or a KD student of ``teacher``."""
    cfg.validate()
    if (cfg.temperature is None) != (teacher is None):
        raise ValueError("a student needs a teacher checkpoint and a temperature; a teacher needs neither")
    conf = {"cfg": asdict(cfg), "data": data.name, "teacher": teacher.parent.name if teacher else None}
    out = _step_dir("student" if teacher else "teacher", conf)
    ckpt = out / "checkpoint_last.pt"
    if (out / "done.json").is_file():
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return ckpt
        print(f"warning: translation step {out} is damaged ({problem}); it trains again", file=sys.stderr)
        (out / "done.json").unlink()
        for stale in (ckpt, out / "checkpoint_best.pt", *out.glob("scores_*.json")):
            stale.unlink(missing_ok=True)
    if teacher is not None:
        verified(teacher)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # fairseq resumes from checkpoint_last.pt in --save-dir by itself after an interruption.
    _run("fairseq_cli.train", train_args(cfg, data, out, teacher), out / "log.txt")
    atomic_write_json(out / "done.json", {"config": conf, "wall_time_s": time.perf_counter() - t0,
                                          "hardware": hardware(), "files_sha256": {ckpt.name: file_sha256(ckpt)}})
    return ckpt


def checkpoint_problem(ckpt: Path) -> str | None:
    """None when ``ckpt`` is the checkpoint its finished step recorded (SHA-256 in ``done.json``)."""
    try:
        done = json.loads((ckpt.parent / "done.json").read_text())
    except (OSError, ValueError) as exc:
        return f"done.json is unreadable ({exc})"
    want = (done.get("files_sha256") or {}).get(ckpt.name)
    if want is None:
        return f"done.json records no checksum for {ckpt.name}"
    if not ckpt.is_file():
        return f"{ckpt.name} is missing"
    if file_sha256(ckpt) != want:
        return f"{ckpt.name} does not match the SHA-256 in done.json"
    return None


def verified(ckpt: Path) -> Path:
    """``ckpt``, once its checksum matches its step's record. fairseq unpickles checkpoints in full
    (they hold omegaconf objects that torch's weights-only loader refuses), so no file reaches it
    unchecked."""
    problem = checkpoint_problem(ckpt)
    if problem:
        raise cache.DamagedRun(f"{ckpt}: {problem}; fairseq will not read it (delete {ckpt.parent} to retrain)")
    return ckpt


def bleu(ckpt: Path, data: Path, cfg: NMTConfig, split: str = "test") -> dict:
    """Beam-search translations of ``split`` scored with sacrebleu on detokenised text (cached)."""
    out = ckpt.parent / f"scores_{split}_beam{cfg.beam}.json"
    if out.is_file():
        return json.loads(out.read_text())
    return score(verified(ckpt), data, cfg, split, out)


def score(ckpt: Path, data: Path, cfg: NMTConfig, split: str, out: Path) -> dict:
    """Translate ``split`` with ``ckpt`` and write sacrebleu's BLEU and chrF to ``out`` (the caller
    vouches for the checkpoint: ``bleu`` verifies a grid step's, the curve bench its own)."""
    import sacrebleu

    log = out.with_suffix(".generate.txt")
    log.unlink(missing_ok=True)
    t0 = time.perf_counter()
    _run("fairseq_cli.generate", [str(data / "bin"), "--path", str(ckpt), "--gen-subset", split,
                                  "--beam", str(cfg.beam), "--batch-size", "256", *_device_args(),
                                  # an undertrained model may babble to the default length limit
                                  "--max-len-a", "1.5", "--max-len-b", "10",
                                  "--post-process", "sentencepiece", "--no-progress-bar"],
         log)
    hyps, refs = {}, {}
    for line in log.read_text().splitlines():
        if line.startswith("H-"):
            i, _, text = line[2:].split("\t", 2)
            hyps[int(i)] = text
        elif line.startswith("T-"):
            i, text = line[2:].split("\t", 1)
            refs[int(i)] = text
    ids = sorted(refs)
    hyp_list, ref_list = [hyps.get(i, "") for i in ids], [[refs[i] for i in ids]]
    # force: the references are the corpus as it is (some program messages end in " ."); sacrebleu's
    # "forgot to detokenize?" warning would print under every score and nobody can act on it.
    b = sacrebleu.corpus_bleu(hyp_list, ref_list, force=True)
    # chrF as well: on short segments and weak models BLEU's 4-gram precision is
    # mostly zero, while character n-grams still rank the systems.
    chrf = sacrebleu.corpus_chrf(hyp_list, ref_list)
    result = {"bleu": b.score, "chrf": chrf.score, "sentences": len(ids),
              "signature": str(b.format(signature=True)),
              "wall_time_s": time.perf_counter() - t0, "hardware": hardware()}
    atomic_write_json(out, result)
    return result


def _row(model: str, alpha: float, cfg: NMTConfig, ckpt: Path, data: Path) -> dict:
    """One grid row; ``alpha`` is the teacher's, for a student as well as for its teacher."""
    return {"model": model, "alpha": alpha, "T": cfg.temperature, "seed": cfg.seed, **bleu(ckpt, data, cfg),
            "train_s": json.loads((ckpt.parent / "done.json").read_text())["wall_time_s"]}


STUDENT_SEED_OFFSET = 1000


def run_grid(base: NMTConfig, alphas, temperatures, seeds, jobs: int | None = None) -> list[dict]:
    """Teachers at every (alpha, seed) and their students at every T: one row per model.

    Seed s trains the teachers with seed s and their students with fairseq
    seed s + 1000 (row seed s), so seeds vary teachers and students together,
    as in the image chapters, and no student starts from its teacher's weights.
    Students train as many epochs as their teachers unless ``student_epochs``
    says otherwise (``base``: 3 of its teachers' 8, to fit two cores); the label-only
    baseline of the gate always trains as long as the students. ``jobs`` fairseq processes run side
    by side (default: one per CPU core this process may use, ``dist.cpus``), teachers first, then students. Each
    step is cached on its own and each process uses one thread, so the rows
    do not depend on ``jobs``. On a GPU the processes share the device, which
    models this small leave mostly idle.
    """
    jobs = jobs or cpus()
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    data = prepare(base)
    alphas, seeds = [float(a) for a in alphas], [int(s) for s in seeds]
    tcfgs = [replace(base, alpha=a, seed=s) for a in alphas for s in seeds]
    student_epochs = base.student_epochs or base.max_epoch

    def student(job):
        a, t_ckpt, s, t = job
        # fairseq seeds torch before building the model: with its teacher's seed and architecture a
        # student would start from its teacher's initial weights, so students take seeds of their own.
        scfg = replace(base, alpha=0.0, temperature=float(t), seed=s + STUDENT_SEED_OFFSET, max_epoch=student_epochs)
        return {**_row("student", a, scfg, train(scfg, data, t_ckpt), data), "seed": s,
                "fairseq_seed": scfg.seed}

    def no_kd(s):
        # The distillation gate's baseline: the student's own seed and epochs, trained on the labels alone.
        cfg = replace(base, alpha=0.0, temperature=None, seed=s + STUDENT_SEED_OFFSET, max_epoch=student_epochs)
        return {**_row("no-kd", 0.0, cfg, train(cfg, data), data), "seed": s, "fairseq_seed": cfg.seed}

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        t_ckpts = list(pool.map(lambda c: train(c, data), tcfgs))
        teacher_rows = list(pool.map(lambda c, k: _row("teacher", c.alpha, c, k, data), tcfgs, t_ckpts))
        # ordered by teacher, then T: each teacher's students are one contiguous run
        student_rows = list(pool.map(student, [(c.alpha, k, c.seed, t) for c, k in zip(tcfgs, t_ckpts)
                                               for t in temperatures]))
        no_kd_rows = list(pool.map(no_kd, seeds)) if 0.0 in alphas else []
    per_teacher = len(temperatures)
    rows = []
    for i, teacher_row in enumerate(teacher_rows):
        rows += [teacher_row, *student_rows[i * per_teacher:(i + 1) * per_teacher]]
    return rows + no_kd_rows


def no_kd_scores(rows: list[dict], metric: str = "bleu") -> dict[int, float]:
    """``{seed: score}`` of the students trained on the labels alone (the gate's baseline)."""
    return {int(r["seed"]): float(r[metric]) for r in rows if r["model"] == "no-kd"}


def reference_body(rows: list[dict], cfg: NMTConfig, wall_s: float) -> dict:
    """A grid's rows with its configuration, code version and hardware: what ``records.save_translation``
    commits under ``results/nmt``."""
    import fairseq

    return {"config": asdict(cfg), "code": cache.code_version("nmt"), "fairseq": fairseq.__version__,
            "hardware": hardware(), "grid_wall_s": wall_s, "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
            "rows": rows}


def stale_fields(ref: dict, cfg: NMTConfig) -> dict[str, tuple]:
    """Fields where a reference grid's configuration differs from today's profile: ``{name: (then, now)}``."""
    now = asdict(cfg)
    return {k: (v, now[k]) for k, v in ref["config"].items() if k in now and now[k] != v}


def bleu_cells(rows: list[dict], metric: str = "bleu") -> dict[tuple[float, float], dict[int, float]]:
    """Student rows -> ``{(alpha, T): {seed: score}}``, the input of ``claims.evaluate_claims``."""
    out: dict[tuple[float, float], dict[int, float]] = {}
    for r in rows:
        if r["model"] == "student":
            out.setdefault((float(r["alpha"]), float(r["T"])), {})[int(r["seed"])] = float(r[metric])
    return out
