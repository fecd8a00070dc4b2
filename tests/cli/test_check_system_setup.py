import os
import shutil

import pytest

from helpers import run_script


@pytest.mark.script
def test_reports_versions_devices_and_tools():
    out = run_script("check_system_setup.py")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("python", "tensorflow", "keras", "numpy", "pydot", "tf devices", "lame", "sox", "dot",
                 "sox mp3"):
        assert any(line.split()[1:2] == [name.split()[0]] for line in out.stdout.splitlines()), name
    assert "CPU" in out.stdout
    assert "system setup ok" in out.stdout


@pytest.mark.script
def test_missing_tool_gives_install_hint_and_nonzero_exit(tmp_path):
    # A PATH holding sox and dot but no lame.
    for tool in ("sox", "dot"):
        os.symlink(shutil.which(tool), tmp_path / tool)
    out = run_script("check_system_setup.py", env={"PATH": str(tmp_path)})
    assert out.returncode == 1
    lame_line = next(line for line in out.stdout.splitlines() if " lame " in line)
    assert lame_line.startswith("MISSING") and "apt-get install -y lame" in lame_line
    assert "missing: lame" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_packages_checked_are_requirements_txts_for_this_python(tmp_path):
    from musicgen.cli.system_check import REQUIREMENTS, required_packages

    listed = tmp_path / "requirements.txt"
    listed.write_text('# runs on\nnumpy>=1.26,<3  # arrays\nold-only; python_version < "3.0"\n'
                      'new-only; python_version >= "3.0"\n# tests\npytest>=8\n')
    assert required_packages(listed) == ["numpy", "new-only"]
    assert {"tensorflow", "keras", "pydub", "inquirer", "pydot"} <= set(required_packages(REQUIREMENTS))
    assert "pytest" not in required_packages(REQUIREMENTS)
