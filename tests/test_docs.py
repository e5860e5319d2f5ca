"""The documentation covers the interfaces: every command and option, every configuration key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
import pytest

from dedup.cli import cli
from dedup.config import Config

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group``, subgroups walked, as (path of names, command)."""
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


COMMANDS = _commands(cli)
OPTIONS = [
    (" ".join(path), flag)
    for path, command in [((), cli), *COMMANDS]
    for param in command.params
    if isinstance(param, click.Option)
    for flag in (*param.opts, *param.secondary_opts)
    if flag.startswith("--") and flag != "--help"
]
KEYS = [
    f"{section.name}.{key.name}"
    for section in dataclasses.fields(Config)
    for key in dataclasses.fields(section.default_factory())  # type: ignore[misc]
]


@pytest.fixture(scope="module")
def documentation() -> str:
    return "\n".join(page.read_text("utf-8") for page in PAGES)


def test_the_walk_finds_the_commands_and_their_options():
    names = {" ".join(path) for path, _ in COMMANDS}

    assert {"clean", "config", "explain", "fit-topic"} <= names
    assert ("clean", "--boilerplate") in OPTIONS and ("clean", "--no-boilerplate") in OPTIONS
    assert ("explain", "--id") in OPTIONS and ("", "--version") in OPTIONS
    assert "dedup.threshold" in KEYS and "input.max_paragraphs" in KEYS


@pytest.mark.parametrize("path", [" ".join(path) for path, _ in COMMANDS])
def test_every_command_is_documented(documentation, path):
    assert f"dedup {path}" in documentation, f"`dedup {path}` is in neither README.md nor docs/*.md"


@pytest.mark.parametrize(("command", "flag"), OPTIONS)
def test_every_option_is_documented(documentation, command, flag):
    # The whole flag: --id must appear on its own, not only inside --id-field.
    assert re.search(rf"{re.escape(flag)}(?![\w-])", documentation), (
        f"{flag} of `dedup {command}`".replace("dedup  ", "dedup ") + " is in neither README.md nor docs/*.md"
    )


@pytest.mark.parametrize("key", KEYS)
def test_every_config_key_is_in_the_config_page(key):
    page = (ROOT / "docs" / "config.md").read_text("utf-8")

    assert f"`{key}`" in page, f"docs/config.md does not describe `{key}`"
