"""Named profiles, the one registry: how big a run every chapter does, from seconds to the paper's recipes.

A profile carries its data set (class names, WordNet synsets, input size and
normalisation come from ``lskd_core.data``), its image teacher and student
configs, and its translation config (``nmt``; chapter 11). A chapter asks for
``get_profile(name, scale=..., data_root=...)`` and builds every run from it,
so one parameter scales the whole book. ``scale`` borrows another profile's
epochs and sizes and keeps the data, classes and architectures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .nmt.pipeline import NMTConfig
from .config import TrainConfig


@dataclass(frozen=True)
class Profile:
    name: str
    teacher: TrainConfig | None  # None: a translation-only profile
    student: TrainConfig | None
    seeds: tuple[int, ...]
    temperatures: tuple[float, ...]
    hardware: str
    expected_wall: str
    description: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    # The paper table this profile's teacher -> student pair reproduces (None: no paper counterpart;
    # the grid chapter then draws Table 2B, the closest small-data table).
    paper_table: str | None = None
    # Translation (chapter 11): teachers and KD students with fairseq; None for image-only profiles.
    nmt: NMTConfig | None = None
    # The candidate of the recorded testbed search (results/testbed_search.json) whose teacher and
    # student configs this profile uses; its plain-teacher KD gains are the gate's expected effect.
    testbed: str | None = None
    # The seeds of the chapters that go beyond the student grid and train their own teachers or
    # students (7: the larger alpha; 12: feature distillation); None: ``seeds``. A CPU profile uses
    # fewer there so that its whole book stays within its time budget; the grid keeps every seed.
    extension_seeds: tuple[int, ...] | None = None
    # The temperatures of the translation grid (chapter 11).
    nmt_temperatures: tuple[float, ...] = (1.0, 3.0, 64.0)

    @property
    def dataset(self) -> str | None:
        return self.teacher.dataset if self.teacher else None

    @property
    def data_root(self) -> str | None:
        return self.teacher.data_root if self.teacher else None

    def classes(self) -> tuple[str, ...]:
        """The data set's class names in label order, read from the copy the profile points at."""
        from .data import class_names

        self.require("image")
        return class_names(self.dataset, self.data_root)

    def synsets(self) -> list[str | None]:
        """A WordNet 3.0 noun offset per class (None where WordNet does not name the class)."""
        from .data import class_synsets

        self.require("image")
        return class_synsets(self.dataset, self.data_root)

    def does_not_apply(self, needs: str) -> str | None:
        """Why a chapter that needs ``"image"`` or ``"translation"`` runs cannot use this profile (None: it can)."""
        if needs == "image" and self.teacher is None:
            return (f"profile {self.name} is a translation profile: it has no image teacher or students "
                    f"(image profiles: {', '.join(n for n, p in PROFILES.items() if p.teacher)})")
        if needs == "translation" and self.nmt is None:
            return (f"profile {self.name} trains on {self.dataset}, an image data set, and has no translation "
                    f"part (translation profiles: {', '.join(n for n, p in PROFILES.items() if p.nmt)})")
        if needs not in ("image", "translation"):
            raise ValueError(f"needs must be 'image' or 'translation', got {needs!r}")
        return None

    def require(self, needs: str) -> None:
        reason = self.does_not_apply(needs)
        if reason:
            raise DoesNotApply(reason)


class DoesNotApply(ValueError):
    """A chapter cannot run on a profile; the message says why (the book shows it in place of the chapter)."""


_FM = dict(dataset="fashion_mnist", small_input=True, batch_size=128, lr=0.05, weight_decay=5e-4,
           schedule="cosine", momentum=0.9)
# The CPU profiles: one-cycle SGD at batch 256 and no augmentation. At 4 or 5
# epochs augmentation costs 2 points (teacher 88.6 % with it, 90.5 % without,
# measured) and the small networks do not overfit 60,000 images in that time.
_CPU = dict(dataset="fashion_mnist", small_input=True, batch_size=256, lr=0.2, weight_decay=5e-4,
            schedule="onecycle", momentum=0.9, augment=False, channels_last=True)

# The testbed search's small-data settings (bench/testbed_search.py): 5,000 training images pooled
# to 14x14, batch 128 at lr 0.1, one-cycle SGD. Teacher and student train on the same images.
_TESTBED = dict(_CPU, downsample=2, n_train=5_000, batch_size=128, lr=0.1)
# The translation model of the CPU testbeds: the whole gettext corpus and a one-layer Transformer.
_GETTEXT_NMT = dict(n_train=None, vocab_size=2000, embed_dim=64, ffn_dim=128, layers=1, heads=2, lr=2e-3,
                    warmup_updates=200, beam=1)


def _testbed_profile(name: str, testbed: str, seeds: tuple[int, ...], teacher: dict, student: dict,
                     expected_wall: str, nmt: NMTConfig, **extra) -> "Profile":
    """A CPU profile on a searched testbed: the teacher trains augmented, the student on the same images
    without augmentation, both from ``_TESTBED``; the description is written from the configs."""
    t = TrainConfig(**{**_TESTBED, "augment": True, **teacher})
    s = TrainConfig(**{**_TESTBED, **student})
    side = 28 // t.downsample
    return Profile(
        name, t, s, seeds=seeds, temperatures=(1.0, 2.0, 3.0, 64.0), hardware="2 CPU cores",
        expected_wall=expected_wall, testbed=testbed, nmt=nmt, **extra,
        description=f"{t.n_train:,} Fashion-MNIST training images pooled to {side}x{side} (all 10,000 test "
                    "images" + (f", scored every {t.eval_every}th epoch" if t.eval_every > 1 else "") +
                    f"), a {t.arch} CNN teacher trained with flips and shifts for {t.num_epochs} epochs and "
                    f"a {s.arch} CNN student trained without them for {s.num_epochs}, one-cycle SGD, {len(seeds)} "
                    "seeds with teachers varied per seed"
                    + (f" ({len(extra['extension_seeds'])} in chapters 7 and 12)" if extra.get("extension_seeds") else "")
                    + ". The testbed search chose it because distillation from the plain teacher helps here "
                    "(chapter 3's gate).")

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke",
        TrainConfig(**_FM, arch="convnet_m", n_train=600, n_test=300, num_epochs=1),
        TrainConfig(**_FM, arch="convnet_s", n_train=600, n_test=300, num_epochs=1),
        seeds=(0,), temperatures=(1.0, 4.0), hardware="any CPU", expected_wall="seconds per chapter",
        description="Proves every chapter runs end to end; its numbers mean nothing.",
        nmt=NMTConfig(n_train=600, vocab_size=500, embed_dim=32, ffn_dim=64, layers=1, heads=2, max_epoch=1,
                      warmup_updates=10, beam=1)),
    # The testbed search's tiny rule (bench/testbed_search.py, CRITERIA["tiny"], chosen with the plain
    # teacher only): the base pipeline made cheaper; the least training per seed, timed side by side,
    # among the 5-seed candidates whose KD gain's interval lies above zero at T = 1 and T = 3.
    "tiny": _testbed_profile(
        "tiny", "tiny_n3k_s", seeds=tuple(range(5)),
        # The test split is scored every 10th epoch and the last: on 3,000 training images, scoring all
        # 10,000 test images each epoch was 45 % of the training time (cProfile, 2026-12-02), and the
        # weights do not depend on it (config.TrainConfig.eval_every).
        teacher=dict(n_train=3_000, arch="convnet3_l", num_epochs=100, eval_every=10),
        student=dict(n_train=3_000, arch="convnet3_s", num_epochs=60, eval_every=10),
        expected_wall="the whole book cold (README, 'Two commands', measured)",
        # One epoch per model in 512-token batches. Measured with bench/nmt_curve.py (plain teacher,
        # validation split, 2026-12-02): one epoch at 512 tokens reaches 3.18 BLEU in 55 CPU s, where
        # 4,096-token batches need 3 epochs (177 CPU s) for 2.30; the 3,000-pair, 3-epoch run this
        # replaces scored 0.01.
        nmt=NMTConfig(**_GETTEXT_NMT, max_epoch=1, max_tokens=512),
        # The cold book's 20 minutes (README, 'Two commands'; measured 2026-12-02: 25.7 min with every
        # seed in chapters 7 and 12, whose feature-distilled students alone took 627 s, and translation
        # at T = 1, 3 and 64): those chapters run 3 of the 5 seeds. Translation runs T = 1 only: each
        # distilled student took 100-106 s of a lane (2026-12-06, 25.5 min cold; 18.8 min after this and
        # chapter 2 beside chapter 3), and the temperatures are base's committed grid (T = 1, 2, 3, 64),
        # which chapter 11 shows beside.
        extension_seeds=(0, 1, 2), nmt_temperatures=(1.0,)),
    # The testbed search's pick (issue 24; bench/testbed_search.py, chosen with the plain teacher only).
    "base": _testbed_profile(
        "base", "n5k_augT_14px_m_t200", seeds=tuple(range(10)),
        teacher=dict(arch="convnet3_l", num_epochs=200), student=dict(arch="convnet3_m", num_epochs=60),
        expected_wall="every chapter's runs in about 6 CPU-core hours, sharded by seed (a 200-epoch teacher took "
                      "580-700 s at one thread, measured 2026-12-02); reference records in results/",
        # Teachers 8 epochs in 512-token batches: the curve's pick (bench/nmt_curve.py, plain teacher, validation
        # split, 2026-12-02: 10.54 BLEU in 511 CPU s, 3.68 short of 24 epochs, the longest run scored). Students
        # and the label-only baseline train 3 epochs (7.27 BLEU alone on that curve), so the teacher knows more
        # than the student can learn alone in its budget. Three seeds at T = 1, 2, 3 and 64 took 68 minutes of
        # 2 cores (2026-12-06), two more 70 (2026-12-07, beside the test suite). Its rows are results/nmt/base.json.
        nmt=NMTConfig(**_GETTEXT_NMT, max_epoch=8, max_tokens=512, student_epochs=3),
        nmt_temperatures=(1.0, 2.0, 3.0, 64.0)),
    "small": Profile(
        "small",
        TrainConfig(**_FM, arch="resnet_m", num_epochs=30),
        TrainConfig(**_FM, arch="resnet_s", num_epochs=30),
        seeds=(0, 1, 2), temperatures=(1.0, 2.0, 3.0, 64.0), hardware="one GPU or a many-core CPU",
        expected_wall="the student grid in about 14 minutes on one H100 (measured 2026-11-24); many hours on 2 CPU cores",
        description="Full Fashion-MNIST (60,000 / 10,000), larger ResNets, 3 seeds.",
        # Translation for one GPU (bench/gpu_nmt.sh): the whole gettext corpus and a 3-layer
        # Transformer. Not yet run: its runtime is unmeasured.
        nmt=NMTConfig(n_train=None, vocab_size=4000, embed_dim=256, ffn_dim=1024, layers=3, heads=4, dropout=0.3,
                      max_epoch=20, lr=1e-3, warmup_updates=400, max_tokens=8192)),
    # The paper's recipes (Appendix C). The data are brought by the user (data_root).
    "cifar100": Profile(
        "cifar100",
        TrainConfig(dataset="cifar100", arch="resnet50", small_input=True, num_epochs=200, batch_size=128, lr=0.1,
                    schedule="step", step_size=60, gamma=0.2, weight_decay=5e-4, amp="bf16", channels_last=True),
        TrainConfig(dataset="cifar100", arch="resnet18", small_input=True, num_epochs=200, batch_size=128, lr=0.1,
                    schedule="step", step_size=60, gamma=0.2, weight_decay=5e-4, amp="bf16", channels_last=True),
        seeds=(0, 1, 2), temperatures=(1.0, 2.0, 3.0, 64.0), hardware="one or more GPUs",
        expected_wall="about a GPU-day for the full grid",
        description="CIFAR-100 (not in the paper; a common middle ground), ResNet-50 -> ResNet-18.",
        notes=("The paper has no CIFAR-100 experiment; the recipe is the common 200-epoch CIFAR one.",)),
    "cub200": Profile(
        "cub200",
        TrainConfig(dataset="cub200", arch="resnet50", small_input=False, num_epochs=200, batch_size=256, lr=0.01,
                    schedule="step", step_size=80, gamma=0.1, weight_decay=1e-4, amp="bf16", channels_last=True),
        TrainConfig(dataset="cub200", arch="resnet18", small_input=False, num_epochs=200, batch_size=256, lr=0.01,
                    schedule="step", step_size=80, gamma=0.1, weight_decay=1e-4, amp="bf16", channels_last=True),
        seeds=(0, 1, 2), temperatures=(1.0, 2.0, 3.0, 64.0), hardware="8 GPUs",
        expected_wall="days for the full grid",
        description="The paper's CUB-200-2011 recipe (Appendix C): 200 epochs, lr 0.01, /10 every 80, batch 256.",
        notes=("The paper fine-tunes from ImageNet weights; pass them with weights= and weights_sha256=.",),
        paper_table="2B"),
    "imagenet": Profile(
        "imagenet",
        TrainConfig(dataset="imagenet1k", arch="resnet50", small_input=False, num_epochs=90, batch_size=256, lr=0.1,
                    schedule="step", step_size=30, gamma=0.1, weight_decay=1e-4, amp="bf16", channels_last=True),
        TrainConfig(dataset="imagenet1k", arch="resnet18", small_input=False, num_epochs=200, batch_size=256, lr=0.1,
                    schedule="step", step_size=80, gamma=0.1, weight_decay=1e-4, amp="bf16", channels_last=True),
        seeds=(0, 1, 2), temperatures=(1.0, 2.0, 3.0, 64.0), hardware="8 or more GPUs (torchrun)",
        expected_wall="weeks of GPU time for the full grid",
        description="The paper's ImageNet-1K recipe: teachers 90 epochs (/10 every 30), students 200 (/10 every 80).",
        paper_table="2A"),
}

# The paper's IWSLT recipe (Appendix C, after Shen et al. 2021): transformer_iwslt_de_en sizes, Adam lr
# 5e-4, dropout 0.3, weight decay 0, max tokens 4096. Translation only; the corpus is brought (data_root).
PROFILES["iwslt"] = Profile(
    "iwslt", None, None, seeds=(0, 1, 2), temperatures=(1.0, 2.0, 3.0, 64.0), hardware="one GPU",
    expected_wall="about a GPU-day for the teachers and students of Table 5",
    description="The paper's IWSLT'14 German-English recipe (Table 5): a 6-layer Transformer, 60 epochs.",
    paper_table="5",
    nmt=NMTConfig(corpus="iwslt", src="de", tgt="en", n_train=None, vocab_size=10000, embed_dim=512, ffn_dim=1024,
                  layers=6, heads=4, dropout=0.3, max_epoch=60, lr=5e-4, warmup_updates=4000, beam=5))

# The paper's other students (Tables 2A/2B ResNet-50 rows, 4, B.1, B.3): the same teacher recipe,
# another student. Compact students follow Appendix C's "CUB-200-2011 and compact students" recipe.
_COMPACT = dict(num_epochs=200, batch_size=256, lr=0.01, schedule="step", step_size=80, gamma=0.1,
                weight_decay=1e-4, amp="bf16", channels_last=True)
for _name, _base, _arch, _table, _temps, _student in (
        ("imagenet_r50", "imagenet", "resnet50", "2A-R50", (1.0, 2.0, 3.0, 64.0), {}),
        ("imagenet_effnet", "imagenet", "efficientnet_b0", "B.3", (1.0, 3.0), _COMPACT),
        ("cub200_r50", "cub200", "resnet50", "2B-R50", (1.0, 2.0, 3.0, 64.0), {}),
        ("cub200_mobilenet", "cub200", "mobilenet_v2", "4", (1.0, 2.0, 3.0, 64.0), _COMPACT),
        ("cub200_convnext", "cub200", "convnext_tiny", "B.1", (1.0, 3.0), _COMPACT)):
    _p = PROFILES[_base]
    PROFILES[_name] = replace(
        _p, name=_name, student=replace(_p.student, arch=_arch, **_student), temperatures=_temps, paper_table=_table,
        description=f"{_p.description.split(':')[0]}: ResNet-50 teacher -> {_arch} student, as in Table {_table}.",
        notes=_p.notes + ((f"Student recipe: Appendix C's compact-student recipe (200 epochs, lr 0.01, /10 every "
                           f"80, batch 256).",) if _student else ()))


def get_profile(name: str, scale: str | None = None, data_root: str | None = None) -> Profile:
    """A profile; ``data_root`` points it at a copy of its data set, ``scale`` shrinks it.

    ``scale`` names another profile whose epochs, subset sizes, batch size and
    seeds replace this one's (images also shrink: file-based ones to at most
    64 pixels a side, in-memory ones pooled by 2, and files are read with at
    most 2 loader workers), while the data set, its path, classes, hierarchy and the
    architectures stay. The result is named ``<name>@<scale>``, so its records
    never mix with the full profile's.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    prof = PROFILES[name]
    if data_root:
        prof = replace(prof, teacher=prof.teacher and replace(prof.teacher, data_root=str(data_root)),
                       student=prof.student and replace(prof.student, data_root=str(data_root)),
                       nmt=prof.nmt and (replace(prof.nmt, data_root=str(data_root)) if prof.nmt.corpus != "gettext"
                                         else prof.nmt))
    if scale is None or scale == name:
        return prof
    if scale not in PROFILES:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(PROFILES)}")
    size = PROFILES[scale]

    def shrink(cfg: TrainConfig | None, small: TrainConfig) -> TrainConfig | None:
        if cfg is None:
            return None
        from .data import in_memory

        return replace(cfg, num_epochs=small.num_epochs, n_train=small.n_train, n_test=small.n_test,
                       # in-memory sets are 28 and 32 pixels a side: pooled by 2
                       downsample=max(cfg.downsample, 2) if in_memory(cfg.dataset) else cfg.downsample,
                       batch_size=min(cfg.batch_size, small.batch_size), image_size=min(cfg.image_size, 64),
                       lr=cfg.lr * min(cfg.batch_size, small.batch_size) / cfg.batch_size,
                       num_workers=min(cfg.num_workers, 2),  # a scaled run is for a small machine
                       step_size=max(1, round(cfg.step_size * small.num_epochs / cfg.num_epochs)))

    nmt = prof.nmt and size.nmt and replace(
        size.nmt, corpus=prof.nmt.corpus, data_root=prof.nmt.data_root, src=prof.nmt.src, tgt=prof.nmt.tgt)
    return replace(prof, name=f"{name}@{scale}", teacher=shrink(prof.teacher, size.teacher),
                   student=shrink(prof.student, size.student), seeds=size.seeds,
                   extension_seeds=size.extension_seeds, nmt=nmt,
                   expected_wall=size.expected_wall, hardware=size.hardware,
                   description=f"{prof.description} Scaled to {scale}: {size.teacher.num_epochs} teacher and "
                               f"{size.student.num_epochs} student epochs, subsets of {size.teacher.n_train or 'all'} "
                               f"/ {size.teacher.n_test or 'all'} images.")


def teacher_config(profile: Profile, alpha: float, seed: int = 0, **overrides) -> TrainConfig:
    profile.require("image")
    return replace(profile.teacher, alpha=float(alpha), seed=seed, **overrides).validate()


def student_config(profile: Profile, seed: int, **overrides) -> TrainConfig:
    profile.require("image")
    return replace(profile.student, seed=seed, **overrides).validate()
