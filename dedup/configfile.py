"""Configuration files: ``dedup.toml``, or ``[tool.dedup]`` in ``pyproject.toml``.

A file holds the sections and keys of :meth:`dedup.config.Config.to_dict`
(``shingle``, ``dedup``, ``topic``, ``input``); keys left out keep their
defaults. The command line reads the file named by ``--config``, else the
``[tool.dedup]`` table of ``pyproject.toml`` in the working directory, and
lets the options given on the command line override it. A relative
``topic.model`` or ``furniture.model`` path is relative to the file's
directory.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dedup.toml"
    >>> _ = path.write_text("[dedup]\\nthreshold = 0.6\\n")
    >>> read_config_file(path).data
    {'dedup': {'threshold': 0.6}}
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from dedup.config import Config
from dedup.errors import ConfigError

PYPROJECT = "pyproject.toml"
#: Sections whose ``model`` key is a path, relative to the file when it is relative.
MODEL_SECTIONS = ("topic", "furniture")


class ConfigFile(NamedTuple):
    """The settings a configuration file holds.

    Attributes:
        path: The file.
        data: Its sections, as :meth:`Config.from_dict` takes them (checked).
        where: How messages name it: the path, with ``[tool.dedup]`` for a
            ``pyproject.toml``.
    """

    path: str
    data: dict[str, Any]
    where: str

    def config(self) -> Config:
        """The configuration the file describes, over the defaults."""
        return Config.from_dict(self.data, source=self.where)


def read_config_file(path: str | os.PathLike[str]) -> ConfigFile:
    """Read a ``dedup.toml`` (its top-level tables are the sections), or the
    ``[tool.dedup]`` table of a file named ``pyproject.toml``.

    Raises:
        ConfigError: The file cannot be read, is not valid TOML (the message
            names the line), or names a section or key that does not exist
            (the message lists the valid ones), or holds a bad value.
    """
    name = os.fspath(path)
    document = _load_toml(name)
    if Path(name).name == PYPROJECT:
        table = document.get("tool", {}).get("dedup")
        if table is None:
            raise ConfigError(f"{name}: no [tool.dedup] table; put the settings under [tool.dedup.dedup], "
                              "[tool.dedup.topic], ...")
        return _checked(name, table, f"{name} [tool.dedup]")
    return _checked(name, document, name)


def find_config_file(directory: str | os.PathLike[str] = ".") -> ConfigFile | None:
    """The ``[tool.dedup]`` table of ``pyproject.toml`` in ``directory``, if there is one.

    Raises:
        ConfigError: The ``pyproject.toml`` is not valid TOML, or its
            ``[tool.dedup]`` table is not valid settings.
    """
    path = Path(directory).absolute() / PYPROJECT  # absolute: the summary that records it does not record the cwd
    if not path.is_file():
        return None
    document = _load_toml(str(path))
    tool = document.get("tool")
    if not isinstance(tool, dict) or "dedup" not in tool:
        return None
    return read_config_file(path)


def _load_toml(name: str) -> dict[str, Any]:
    try:
        with open(name, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the configuration file ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line N, column M)"
        raise ConfigError(f"{name}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: not UTF-8 ({exc})") from exc


def _checked(name: str, data: dict[str, Any], where: str) -> ConfigFile:
    data = copy.deepcopy(data)
    for section in MODEL_SECTIONS:
        values = data.get(section)
        if isinstance(values, dict) and isinstance(values.get("model"), str) and not os.path.isabs(values["model"]):
            values["model"] = os.path.normpath(os.path.join(os.path.dirname(name), values["model"]))
    found = ConfigFile(name, data, where)
    found.config()  # every error now, naming the file
    return found


def to_toml(data: dict[str, Any], notes: dict[str, dict[str, str]] | None = None) -> str:
    """A configuration dict (:meth:`Config.to_dict`) as a ``dedup.toml`` file.

    A ``None`` value, which TOML cannot hold, is written as a comment.
    ``notes`` adds a comment after a key: ``notes[section][key]``.

    Example:
        >>> print(to_toml({"topic": {"threshold": 0.5, "model": None}}), end="")
        [topic]
        threshold = 0.5
        # model = (not set)
    """
    notes = notes or {}
    lines: list[str] = []
    for section, values in data.items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key, value in values.items():
            note = notes.get(section, {}).get(key)
            text = f"# {key} = (not set)" if value is None else f"{key} = {_toml_value(value)}"
            lines.append(text if note is None else f"{text}  # {note}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    raise TypeError(f"no TOML form for {value!r}")  # a new setting type needs a case here
