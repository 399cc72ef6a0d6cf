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
