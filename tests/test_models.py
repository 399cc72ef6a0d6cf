"""Every architecture exposes its penultimate features and its final linear layer."""

import hashlib

import pytest
import torch

from lskd_core.models import ARCHS, build


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_features_then_fc_equals_forward(arch):
    small = arch in ("convnet_s", "convnet_m", "resnet_s", "resnet_m")
    c, size = (1, 28) if small else (3, 32)
    torch.manual_seed(0)
    m = build(arch, c, 7, small_input=True).eval()
    x = torch.randn(2, c, size, size)
    with torch.no_grad():
        f = m.features(x)
        assert f.ndim == 2 and f.shape[1] == m.fc.in_features and m.fc.out_features == 7
        assert torch.allclose(m.fc(f), m(x), atol=1e-5)


def test_local_weights_are_checked_before_loading(tmp_path):
    m = build("convnet_s", 1, 10)
    p = tmp_path / "w.pt"
    torch.save(m.state_dict(), p)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    again = build("convnet_s", 1, 10, weights=str(p), weights_sha256=digest)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="sha256"):
        build("convnet_s", 1, 10, weights=str(p), weights_sha256="0" * 64)
    with pytest.raises(FileNotFoundError):
        build("convnet_s", 1, 10, weights=str(tmp_path / "none.pt"))


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: .*resnet18"):
        build("vgg11", 3, 10)
