import pytest

from lskd_core.params import ParameterError, validate


def test_good_parameters_pass_through():
    p = dict(profile="tiny", alpha=0.1, temperatures=[1, 2.5, 64], seeds=[0, 1], seed=3, dataset="fashion_mnist")
    assert validate(p) is p


@pytest.mark.parametrize("p,match", [
    (dict(profile="enormous"), "valid profiles: smoke, tiny, base, small"),
    (dict(alpha=1.0), r"\[0, 1\)"), (dict(alpha=-0.2), r"\[0, 1\)"), (dict(alpha=True), r"\[0, 1\)"),
    (dict(temperature=0), "> 0"), (dict(temperature=float("inf")), "finite"),
    (dict(temperatures=[]), "non-empty"), (dict(temperatures=[1, -3]), "> 0"),
    (dict(seed=-1), ">= 0"), (dict(dataset="imagenet22k"), "valid: fashion_mnist"),
    (dict(teacher_arch="vgg"), "valid: .*convnet_s"),
])
def test_bad_values_name_the_valid_range(p, match):
    with pytest.raises(ParameterError, match=match):
        validate(p)


def test_unknown_names_list_the_allowed_ones():
    with pytest.raises(ParameterError, match="unknown parameter.*tempreature.*takes: alpha, profile"):
        validate({"tempreature": 3}, allowed={"alpha", "profile"})


# ------------------------------------------------------------ the profile registry


def test_scale_keeps_the_data_and_models_and_borrows_the_sizes(tmp_path):
    from lskd_core.profiles import PROFILES, get_profile

    full = get_profile("cub200")
    scaled = get_profile("cub200", scale="smoke", data_root=str(tmp_path))
    smoke = PROFILES["smoke"]
    assert scaled.name == "cub200@smoke" and scaled.seeds == smoke.seeds
    for cfg, ref in ((scaled.teacher, full.teacher), (scaled.student, full.student)):
        assert (cfg.dataset, cfg.arch, cfg.data_root) == (ref.dataset, ref.arch, str(tmp_path))
        assert cfg.num_epochs == 1 and cfg.n_train == smoke.teacher.n_train and cfg.image_size == 64
        assert cfg.lr == ref.lr * cfg.batch_size / ref.batch_size  # the batch shrinks, lr follows linearly
    c = get_profile("cifar100", scale="smoke").teacher
    assert c.downsample == 2 and c.arch == "resnet50"
    t = get_profile("tiny", scale="smoke")
    assert t.nmt.n_train == smoke.nmt.n_train and t.nmt.corpus == "gettext"
    assert get_profile("tiny", scale="tiny") == PROFILES["tiny"]
    with pytest.raises(ValueError, match="unknown scale"):
        get_profile("tiny", scale="huge")


def test_profiles_say_which_chapters_they_cannot_serve():
    from lskd_core.profiles import DoesNotApply, get_profile, teacher_config

    assert get_profile("tiny").does_not_apply("image") is None
    assert get_profile("tiny").does_not_apply("translation") is None
    assert "no translation part" in get_profile("imagenet").does_not_apply("translation")
    assert "translation profile" in get_profile("iwslt").does_not_apply("image")
    with pytest.raises(DoesNotApply, match="translation profile"):
        teacher_config(get_profile("iwslt"), 0.1)


def test_scale_and_data_root_parameters_are_checked(tmp_path):
    with pytest.raises(ParameterError, match="scale='huge' is unknown"):
        validate({"scale": "huge"})
    with pytest.raises(ParameterError, match="scale='iwslt'"):
        validate({"scale": "iwslt"})  # a translation-only profile has no image sizes to lend
    with pytest.raises(ParameterError, match="is not a folder"):
        validate({"data_root": str(tmp_path / "missing")})
    validate({"scale": "smoke", "data_root": str(tmp_path)})


def test_class_parameters_are_checked_against_the_data_given(tmp_path):
    from fixtures import make_cub

    root = make_cub(tmp_path / "cub")
    validate({"profile": "cub200", "data_root": str(root), "classes": ["002.Laysan_Albatross"]})
    with pytest.raises(ParameterError, match="unknown class names \\['Shirt'\\]"):
        validate({"profile": "cub200", "data_root": str(root), "classes": ["Shirt"]})
    with pytest.raises(ParameterError, match="Fashion-MNIST|fashion_mnist"):
        validate({"profile": "tiny", "example_class": "tench"})
