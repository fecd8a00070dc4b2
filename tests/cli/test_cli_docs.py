"""docs/CLI.md's flag tables say what the scripts' --help says: the same flags, defaults and ranges.

The parsers are built from the config dataclasses (config.py), so this checks the one place a
flag is still written by hand.
"""

import argparse
import re

import pytest

from musicgen.cli.args import is_switch
from musicgen.cli.train_args import build_parser as train_parser

from helpers import REPO, script_parser

SECTIONS = {"## convert_directory.py": "convert_directory", "## train.py": "train", "## generate.py": "generate",
            "## evaluate.py": "evaluate", "## export.py": "export"}
CLI_DOC = REPO / "docs" / "CLI.md"
NOT_GIVEN = ("", "off", "menu", "random")  # how the tables write a default of None (or a switch's)


def doc_tables(header: str) -> dict[str, list[list[str]]]:
    """Rows (cells) of the first table whose header row starts with `header`, per '## ' section."""
    tables, section, rows, inside = {}, None, None, False
    for line in CLI_DOC.read_text().splitlines():
        if line.startswith("## "):
            section, inside = line, False
        elif line.startswith(header) and section and section not in tables:
            rows, inside = [], True
            tables[section] = rows
        elif inside and line.startswith("|"):
            if not line.startswith("| ---"):
                rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        else:
            inside = False
    return tables


def flags_in(cell: str) -> list[str]:
    return re.findall(r"`(-[-\w]+)", cell)


def flag_rows(script: str) -> dict[str, str]:
    """flag -> the default docs/CLI.md gives for it."""
    section = next(s for s in doc_tables("| flag | default") if s.startswith(
        next(k for k, v in SECTIONS.items() if v == script)))
    return {flag: row[1].strip("`").rstrip("/") for row in doc_tables("| flag | default")[section]
            for flag in flags_in(row[0])}


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser.options for s in a.option_strings if s not in ("-h", "--help")}


@pytest.mark.parametrize("script", SECTIONS.values())
def test_the_cli_doc_lists_every_flag_with_its_default(script):
    documented, actions = flag_rows(script), options(script_parser(script))
    assert set(documented) == set(actions), f"{script}: docs-only {set(documented) - set(actions)}, " \
                                            f"--help-only {set(actions) - set(documented)}"
    for flag, said in documented.items():
        action = actions[flag]
        if action.default is None or is_switch(action):
            if flag != "--seconds":  # the table gives the original's length, which --seconds defaults to
                assert said in NOT_GIVEN, f"{script} {flag}: docs/CLI.md says {said!r}, --help says not given"
        elif isinstance(action.default, (int, float)):
            assert float(said) == action.default, f"{script} {flag}: docs {said}, --help {action.default}"
        else:
            default = action.default if isinstance(action.default, list) else [action.default]
            assert said == " ".join(map(str, default)), f"{script} {flag}: docs {said!r}, --help {action.default!r}"


def test_re_train_takes_the_training_flags_and_a_weight_file():
    train, resume = options(train_parser("lstm", resume=False)), options(train_parser("gru", resume=True))
    assert set(resume) - set(train) == {"--weights"} and set(train) <= set(resume)
    assert resume["--hidden"].default is None  # the weight file's shape unless given


def _number(text: str) -> float:
    return float(eval(text.replace("^", "**"), {"__builtins__": {}}))  # "2^32 - 1"


RANGE = re.compile(r"above (?P<open_low>[\d.]+), at most (?P<open_high>[\d.]+)|(?P<low>[\d.^ -]+?) \.\. "
                   r"(?P<high>\d[\d.^ -]*\d|\d)")


def test_the_range_table_gives_each_flags_accepted_values():
    actions = {}
    for script in SECTIONS.values():
        actions.update(options(script_parser(script)))
    rows = doc_tables("| flag | range")["## Ranges"]
    assert len(rows) >= 10
    for cell, said in rows:
        flags = flags_in(cell)
        ranges = []
        for m in RANGE.finditer(said):
            if m["open_low"]:
                ranges.append((_number(m["open_low"]), _number(m["open_high"]), True, False))
            else:
                ranges.append((_number(m["low"]), _number(m["high"]), False, False))
        assert len(ranges) in (1, len(flags)), f"{cell}: {said}"
        for flag, expected in zip(flags, ranges * len(flags) if len(ranges) == 1 else ranges):
            assert actions[flag].type.bounds == expected, f"{flag}: docs {said}, --help {actions[flag].type.bounds}"
