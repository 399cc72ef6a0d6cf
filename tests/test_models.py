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


def test_paper_weights_are_named_by_the_installed_torchvision():
    from lskd_core.models import PAPER_WEIGHTS, paper_weights

    files = {a: paper_weights(a)["file"] for a in PAPER_WEIGHTS}
    # what the paper's recipes expect, in torch.hub's <name>-<sha256 prefix>.pth form
    assert files["resnet50"].startswith("resnet50-") and paper_weights("resnet50")["sha256_prefix"] == "0676ba61"
    assert all(len(paper_weights(a)["sha256_prefix"]) == 8 for a in files)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        paper_weights("convnet_s")


def test_torchvision_weights_fine_tune_with_a_fresh_head_and_a_wrong_file_fails_first(tmp_path, monkeypatch):
    """An ImageNet state (torchvision keys, 1000 classes) loads into the backbone; a file whose
    content does not match the checksum in its name fails in TrainConfig.validate, before training."""
    from torchvision.models import mobilenet_v2

    from lskd_core.config import TrainConfig
    from lskd_core.train import train_teacher

    torch.manual_seed(0)
    net = mobilenet_v2(weights=None)
    tmp = tmp_path / "w.pth"
    torch.save(net.state_dict(), tmp)
    prefix = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    good = tmp_path / f"mobilenet_v2-{prefix}.pth"
    tmp.rename(good)
    m = build("mobilenet_v2", 3, 200, weights=str(good))
    assert m.fc.out_features == 200
    assert torch.equal(m.backbone[0][0][0].weight, net.features[0][0].weight)
    bad = tmp_path / "mobilenet_v2-00000000.pth"
    bad.write_bytes(good.read_bytes())
    cfg = TrainConfig(dataset="cub200", arch="mobilenet_v2", weights=str(bad), data_root=str(tmp_path))
    with pytest.raises(ValueError, match="does not match the expected 00000000"):
        cfg.validate()
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    with pytest.raises(ValueError, match="does not match"):
        train_teacher(cfg, progress=False)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
    renamed = good.rename(tmp_path / "renamed.pth")  # no checksum in the name, none given
    with pytest.raises(ValueError, match="give weights_sha256"):
        TrainConfig(arch="mobilenet_v2", weights=str(renamed)).validate()
