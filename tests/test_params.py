import pytest

from lskd_core.params import ParameterError, validate
from lskd_core.profiles import get_profile


def test_good_parameters_pass_through():
    p = dict(profile="tiny", alpha=0.1, temperatures=[1, 2.5, 64], seeds=[0, 1], seed=3, dataset="fashion_mnist")
    assert validate(p) is p


@pytest.mark.parametrize("p,match", [
    (dict(profile="enormous"), "valid profiles: smoke, tiny, base, small"),
    (dict(alpha=1.0), r"\[0, 1\)"), (dict(alpha=-0.2), r"\[0, 1\)"), (dict(alpha=True), r"\[0, 1\)"),
    (dict(temperature=0), r"\(0, 1000\]"), (dict(temperature=float("inf")), r"\(0, 1000\]"),
    (dict(temperature=5000), r"\(0, 1000\]"),
    (dict(temperatures=[]), "empty"), (dict(temperatures=[1, -3]), r"\(0, 1000\]"),
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


# ------------------------------------------------------------ issue 28, item 7: one rule per parameter, before a kernel


@pytest.mark.parametrize("chapter,params,match", [
    ("05_diffusion", dict(control_alpha=1.5), r"control_alpha=1.5 must be a number in \[0, 1\)"),
    ("05_diffusion", dict(t1=1e9), r"t1=1000000000.0 must be a number in \(0, 1000\]"),
    ("06_teacher_targets", dict(match_temperatures=[0]), r"match_temperatures=0 must be"),
    # The bound is the default profile's student epochs, read from the profile, not written here.
    ("13_deviations", dict(switch_epoch=1000),
     rf"switch_epoch=1000 must lie in \[0, {get_profile('tiny').student.num_epochs}\)"),
    ("01_ls_and_kd", dict(example_class=["Shirt", "Coat"]), "must be one class name"),
    ("01_ls_and_kd", dict(example_class=5), "must be one class name"),
    ("03_student_grid", dict(alphas=[0.1, 0.1]), "repeats a value"),
    ("03_student_grid", dict(temperatures=list(range(1, 2001))), "at most 32"),
    ("03_student_grid", dict(seeds=list(range(5000))), "at most 100"),
])
def test_bad_values_fail_before_a_kernel_starts(chapter, params, match, monkeypatch):
    import papermill

    from lskd_core import notebook

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel was started"))
    with pytest.raises(ParameterError, match=match):
        notebook.execute(notebook.NOTEBOOKS / f"{chapter}.md", params)


def test_every_chapter_parameter_has_a_rule():
    from lskd_core.notebook import NOTEBOOKS, declared_parameters, read_notebook
    from lskd_core.params import RULES

    for path in sorted(NOTEBOOKS.glob("*.md")):
        missing = set(declared_parameters(read_notebook(path))) - set(RULES)
        assert not missing, f"{path.name}: parameters without a rule: {sorted(missing)}"


def test_a_relative_data_root_means_the_callers_folder(tmp_path, monkeypatch):
    import papermill

    from lskd_core import notebook

    (tmp_path / "mydata").mkdir()
    monkeypatch.chdir(tmp_path)
    seen = {}
    monkeypatch.setattr(notebook, "_check_data", lambda needs, p: seen.update(p))
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        notebook.execute(notebook.NOTEBOOKS / "03_student_grid.md", {"data_root": "mydata"},
                         output=tmp_path / "out.ipynb")
    assert seen["data_root"] == str(tmp_path / "mydata")


@pytest.mark.parametrize("var,value,match", [
    ("LSKD_CHECKPOINT_SECONDS", "abc", "LSKD_CHECKPOINT_SECONDS='abc'"),
    ("LSKD_CACHE", "", "LSKD_CACHE is set but empty"),
    ("LSKD_DATA_MANIFESTS", "/nonexistent/manifests", "LSKD_DATA_MANIFESTS='/nonexistent/manifests'"),
    ("LSKD_CPUS", "two", "LSKD_CPUS='two'"),
    ("LSKD_PROGRESS", "yes", "LSKD_PROGRESS='yes'"),
])
def test_bad_environment_fails_at_start_with_the_variable_named(var, value, match, monkeypatch, capsys):
    from lskd_core.cli import main

    monkeypatch.setenv(var, value)
    assert main(["runs", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "Traceback" not in err


def test_the_chapters_beyond_the_grid_take_a_subset_of_the_profiles_seeds(monkeypatch):
    """tiny runs chapters 7 and 12 on 3 of its 5 seeds (its 20-minute book); begin resolves seeds=None
    there to those, everywhere else to every seed, and a scaled profile takes its size's seeds."""
    from lskd_core import experiments as ex
    from lskd_core.profiles import PROFILES, get_profile

    for name, prof in PROFILES.items():
        assert set(prof.extension_seeds or prof.seeds) <= set(prof.seeds), name
    assert get_profile("tiny").extension_seeds == (0, 1, 2) and get_profile("base").extension_seeds is None
    monkeypatch.delenv("LSKD_CHAPTER_DEFAULTS", raising=False)
    monkeypatch.delenv("LSKD_CHAPTER_NEEDS", raising=False)
    ns = {"profile": "tiny", "seeds": None, "temperatures": None}
    ex.begin(ns, seeds="extension_seeds")
    assert ns["seeds"] == [0, 1, 2] and ns["temperatures"] == [1, 2, 3, 64]
    ns = {"profile": "tiny", "seeds": None, "temperatures": None}
    ex.begin(ns, temperatures="nmt_temperatures")
    assert ns["seeds"] == [0, 1, 2, 3, 4] and ns["temperatures"] == [1]
    ns = {"profile": "base", "seeds": None, "temperatures": None}
    ex.begin(ns, seeds="extension_seeds", temperatures="nmt_temperatures")
    assert ns["seeds"] == list(range(10)) and ns["temperatures"] == [1, 2, 3, 64]
    ns = {"profile": "small", "seeds": None, "temperatures": None}
    ex.begin(ns, temperatures="nmt_temperatures")
    assert ns["temperatures"] == [1, 3, 64]  # the default list
    scaled = get_profile("tiny", scale="smoke")
    assert scaled.extension_seeds is None and scaled.seeds == get_profile("smoke").seeds


def test_lskd_nmt_grid_defaults_to_the_profiles_translation_temperatures(monkeypatch, capsys):
    from lskd_core.cli import main
    from lskd_core.nmt import pipeline

    got = {}

    def fake_grid(cfg, alphas, temperatures, seeds, jobs=None):
        got["temperatures"] = list(temperatures)
        return []

    monkeypatch.setattr(pipeline, "run_grid", fake_grid)
    assert main(["nmt", "grid", "--profile", "tiny"]) == 0
    # tiny's translation list (1), not its image list (1, 2, 3, 64)
    assert got["temperatures"] == list(get_profile("tiny").nmt_temperatures) == [1.0]
