"""check_system_setup: report versions, devices and external tools; find what is missing."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from musicgen.audio.tools import INSTALL_HINTS, sox_formats, tool_version

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python
PIP_HINT = "run: make setup  (or: .venv/bin/pip install -r requirements.txt)"


def required_packages(path: Path = REQUIREMENTS) -> list[str]:
    """The packages the toolkit runs on here: requirements.txt's above its "# tests" line whose environment
    marker (e.g. python_version >= "3.13") this Python meets."""
    from packaging.requirements import Requirement  # matplotlib's dependency, so always there

    names = []
    for line in path.read_text().splitlines():
        if line.strip().lower().startswith("# tests"):
            break
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate():
                names.append(requirement.name)
    return names


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str


def python_check() -> Check:
    """Python 3.11 or later, as pyproject.toml requires (TensorFlow 2.x with Keras 3; what CI tests)."""
    ok = sys.version_info >= MIN_PYTHON
    detail = platform.python_version() + ("" if ok else "  -> install Python 3.11")
    return Check("python", ok, detail)


def package_checks() -> list[Check]:
    """Installed version of every Python dependency."""
    checks = []
    for name in required_packages():
        try:
            checks.append(Check(name, True, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(name, False, f"not installed -> {PIP_HINT}"))
    return checks


def device_checks() -> list[Check]:
    """The devices TensorFlow can compute on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        tf = importlib.import_module("tensorflow")
    except ImportError as exc:
        return [Check("tf devices", False, f"tensorflow does not import ({exc}) -> {PIP_HINT}")]
    devices = tf.config.list_physical_devices()
    names = ", ".join(f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in devices) or "none"
    gpus = sum(d.device_type == "GPU" for d in devices)
    return [Check("tf devices", bool(devices), f"{names} ({gpus} GPU)")]


def tool_checks() -> list[Check]:
    """lame, sox (with mp3 support) and graphviz's dot."""
    checks = []
    for tool in ("lame", "sox", "dot"):
        version = tool_version(tool)
        if version is None:
            checks.append(Check(tool, False, f"not found -> {INSTALL_HINTS[tool]}"))
        else:
            checks.append(Check(tool, True, version))
    if checks[1].ok:
        has_mp3 = "mp3" in sox_formats()
        detail = "yes" if has_mp3 else f"no -> {INSTALL_HINTS['sox']}"
        checks.append(Check("sox mp3", has_mp3, detail))
    return checks


def run_checks() -> list[Check]:
    """Every check, in the order the report prints them."""
    return [python_check(), *package_checks(), *device_checks(), *tool_checks()]
