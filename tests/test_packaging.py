"""Packaging metadata (issue 10): license, one version source, py.typed, pins, extras."""

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
import zipfile
from configparser import ConfigParser

import pytest
from conftest import REPO

import offline_sched

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _requirement(reqs, name):
    """The requirement string for distribution ``name`` in a list of requirements."""
    found = [r for r in reqs if re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() == name]
    return found[0] if found else None


def test_license_file_and_modern_license_metadata():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 offline_sched developers" in text
    assert PROJECT["license"] == "MIT"  # PEP 639 SPDX expression, not a table
    assert PROJECT["license-files"] == ["LICENSE"]
    # PEP 639: no license classifier next to a license expression
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    assert "Programming Language :: Python :: 3.11" in PROJECT["classifiers"]
    requires = PYPROJECT["build-system"]["requires"]
    assert _requirement(requires, "wheel") is None
    setuptools_req = _requirement(requires, "setuptools")
    assert setuptools_req is not None and ">=77" in setuptools_req


def test_project_urls_are_real_urls():
    for label, url in PROJECT.get("urls", {}).items():
        assert re.match(r"https?://[^\s/]+\.[^\s/]+", url), (label, url)


def test_one_version_source():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "offline_sched.__version__"
    assert importlib.metadata.version("offline-sched") == offline_sched.__version__


def test_py_typed_is_shipped():
    assert (REPO / "offline_sched" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["offline_sched"]


def test_no_flake8_config_beside_ruff():
    cfg = ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "flake8" not in cfg.sections()
    assert (REPO / "ruff.toml").is_file()


def test_highspy_pinned_to_the_tested_range():
    req = _requirement(PROJECT["dependencies"], "highspy").replace(" ", "")
    assert ">=1.7" in req and "<1.17" in req
    installed = importlib.metadata.version("highspy")
    assert tuple(int(p) for p in installed.split(".")[:2]) < (1, 17)


def test_measure_extra_uses_nvidia_ml_py_not_the_deprecated_pynvml():
    measure = PROJECT["optional-dependencies"]["measure"]
    assert _requirement(measure, "nvidia-ml-py") is not None
    assert _requirement(measure, "pynvml") is None


def test_nvml_meter_import_emits_no_pynvml_future_warning():
    with warnings.catch_warnings():  # the deprecated pynvml package warns on lookup already
        warnings.simplefilter("ignore")
        found = all(importlib.util.find_spec(m) is not None for m in ("torch", "pynvml"))
    if not found:
        pytest.skip("needs torch and the pynvml module (nvidia-ml-py)")
    code = ("import torch, torch.cuda\n"
            "from offline_sched.measure import nvml\n"
            "nvml._import_pynvml()\n"
            "import offline_sched.measure.harness\n")
    proc = subprocess.run([sys.executable, "-W", "always::FutureWarning", "-c", code],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "pynvml package is deprecated" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_wheel_contains_license_py_typed_and_data(tmp_path):
    """Build a wheel from a copy of the tree (offline, no build isolation) and look inside."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", "*.egg-info", "build", "dist", "__pycache__", ".*cache", ".hypothesis",
        "out", "docs", "benchmarks", "measurements", "tests"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path / "wh"), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "wh").glob("offline_sched-*.whl")
    assert wheel.name.startswith(f"offline_sched-{offline_sched.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "offline_sched/py.typed" in names
    assert "offline_sched/data/coefficients.csv" in names
    assert "offline_sched/data/fleets/hybrid.toml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(meta_name).decode()
    assert "License-Expression: MIT" in meta
    assert f"Version: {offline_sched.__version__}" in meta
    assert "Requires-Dist: nvidia-ml-py" in meta
