import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never read or write the user's run cache."""
    os.environ["LSKD_CACHE"] = str(tmp_path_factory.mktemp("runs"))
    # A checkpoint after every epoch, as the kill-and-resume tests expect (the default cadence is 30 s).
    os.environ["LSKD_CHECKPOINT_SECONDS"] = "0"
    torch.set_num_threads(1)
    yield
