"""The ``lskd_kd`` criterion: word-level KD from a frozen teacher (``lskd_core.nmt.token_kd``)."""


import contextlib
import math
import os
from dataclasses import dataclass, field

import torch
from fairseq import checkpoint_utils, metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from lskd_core.nmt.token_kd import token_kd_loss


@dataclass
class KDConfig(FairseqDataclass):
    teacher_path: str = field(default="", metadata={"help": "checkpoint of the frozen teacher"})
    kd_temperature: float = field(default=1.0, metadata={"help": "distillation temperature T > 0"})
    kd_beta: float = field(default=0.0, metadata={"help": "weight of the hard-label term (paper: 0)"})


@contextlib.contextmanager
def _trusted_pickle():
    # fairseq checkpoints pickle omegaconf/argparse objects, which torch's
    # weights_only loader refuses; the teacher is the user's own checkpoint.
    old = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = old


def check_dictionaries(teacher_task, task) -> None:
    for side in ("source_dictionary", "target_dictionary"):
        a, b = getattr(teacher_task, side), getattr(task, side)
        if a is None or b is None:
            continue
        if a.symbols != b.symbols:
            diff = next((i for i, (x, y) in enumerate(zip(a.symbols, b.symbols)) if x != y), min(len(a), len(b)))
            raise ValueError(f"teacher and student {side.split('_')[0]} dictionaries differ (sizes {len(a)} vs "
                             f"{len(b)}, first difference at index {diff}); binarise both with the same "
                             f"dictionary files (fairseq-preprocess --srcdict/--tgtdict)")


@register_criterion("lskd_kd", dataclass=KDConfig)
class KDCriterion(FairseqCriterion):
    def __init__(self, task, teacher_path: str, kd_temperature: float, kd_beta: float = 0.0):
        super().__init__(task)
        if not kd_temperature > 0:
            raise ValueError(f"--kd-temperature must be > 0, got {kd_temperature}")
        if not 0.0 <= kd_beta <= 1.0:
            raise ValueError(f"--kd-beta must lie in [0, 1], got {kd_beta}")
        if not teacher_path or not os.path.isfile(teacher_path):
            raise FileNotFoundError(f"--teacher-path {teacher_path!r} is not a file")
        with _trusted_pickle():
            models, _cfg, teacher_task = checkpoint_utils.load_model_ensemble_and_task([teacher_path])
        check_dictionaries(teacher_task, task)
        self.teacher = models[0].eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.beta = float(kd_temperature), float(kd_beta)

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        self.teacher.to(net_output[0].device).eval()
        with torch.no_grad():
            teacher_output = self.teacher(**sample["net_input"])
        target = model.get_targets(sample, net_output)
        loss, _ = token_kd_loss(net_output[0], teacher_output[0], target, self.padding_idx, self.temperature,
                                self.beta)
        sample_size = sample["ntokens"]
        logging_output = {"loss": loss.data, "ntokens": sample["ntokens"], "nsentences": sample["target"].size(0),
                          "sample_size": sample_size}
        return loss, sample_size, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        loss_sum = sum(log.get("loss", 0) for log in logging_outputs)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        metrics.log_scalar("loss", loss_sum / max(sample_size, 1) / math.log(2), sample_size, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
