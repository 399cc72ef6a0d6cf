"""pyproject.toml and environment.yml carry the same pins; torch is pinned exactly."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower()


def test_pyproject_and_environment_agree():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = proj["dependencies"] + proj["optional-dependencies"]["dev"] + proj["optional-dependencies"]["nmt"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    env_reqs = [r for r in pip_section if not r.startswith("-e")]
    norm = lambda rs: {_name(r): r.replace(" ", "") for r in rs}  # noqa: E731
    assert norm(pip_reqs) == norm(env_reqs)


def test_torch_is_pinned_exactly_to_the_local_build():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    assert any(d.startswith("jupyter-book>=1,<2") for d in deps)


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
