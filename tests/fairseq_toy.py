"""A toy translation task and two tiny Transformers, for the fairseq criterion test."""

from pathlib import Path

import torch


def toy_task_and_models(root: Path, extra_symbol: str | None = None):
    from argparse import Namespace

    from fairseq import checkpoint_utils, tasks
    from fairseq.data import Dictionary
    from fairseq.models.transformer import TransformerModel

    root.mkdir(parents=True, exist_ok=True)
    d = Dictionary()
    for w in "the cat sat on a mat die katze sass auf einer matte".split():
        d.add_symbol(w)
    if extra_symbol:
        d.add_symbol(extra_symbol)
    d.finalize(padding_factor=1)
    d.save(str(root / "dict.en.txt"))
    d.save(str(root / "dict.de.txt"))
    args = Namespace(task="translation", data=str(root), source_lang="en", target_lang="de", arch="transformer",
                     encoder_embed_dim=16, encoder_ffn_embed_dim=32, encoder_layers=1, encoder_attention_heads=2,
                     decoder_embed_dim=16, decoder_ffn_embed_dim=32, decoder_layers=1, decoder_attention_heads=2,
                     share_all_embeddings=False, max_source_positions=64, max_target_positions=64,
                     left_pad_source=True, left_pad_target=False, dropout=0.0, seed=0)
    task = tasks.setup_task(args)
    torch.manual_seed(0)
    from fairseq.models.transformer import base_architecture

    base_architecture(args)
    teacher = TransformerModel.build_model(args, task)
    student = TransformerModel.build_model(args, task)
    path = root / "teacher.pt"
    history = [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": "SGD", "lr_scheduler_state": {},
                "num_updates": 0}]
    state = {"args": args, "model": teacher.state_dict(), "optimizer_history": history, "extra_state": {},
             "last_optimizer_state": None}
    checkpoint_utils.torch_persistent_save(state, str(path))
    src = torch.tensor([[d.index("the"), d.index("cat"), d.index("sat"), d.eos()],
                        [d.pad(), d.index("a"), d.index("mat"), d.eos()]])
    tgt = torch.tensor([[d.index("die"), d.index("katze"), d.index("sass"), d.eos()],
                        [d.index("einer"), d.index("matte"), d.eos(), d.pad()]])
    prev = torch.tensor([[d.eos(), d.index("die"), d.index("katze"), d.index("sass")],
                         [d.eos(), d.index("einer"), d.index("matte"), d.pad()]])
    sample = {"net_input": {"src_tokens": src, "src_lengths": torch.tensor([4, 3]), "prev_output_tokens": prev},
              "target": tgt, "ntokens": int(tgt.ne(d.pad()).sum())}
    return task, student, path, sample
