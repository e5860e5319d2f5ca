"""No regular expression in the package backtracks catastrophically on adversarial input.

Every compiled pattern of every ``dedup`` module is run on long pathological
strings (100,000 characters of repeated separators, spaces, colons, pipes,
parentheses, letters...) under a hang guard: an alarm interrupts a match
that runs longer than :data:`GUARD` seconds (the regex engine checks for
signals while it backtracks), and the test fails. So are the functions that
apply them to whole paragraphs.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import dedup
from dedup.shingle import normalise
from dedup.split import split_paragraphs
from dedup.topic.form import form_signals

GUARD = 10  # seconds: generous; a linear match of these strings takes milliseconds
N = 100_000
PACKAGE = Path(dedup.__file__).resolve().parent


def _pathological() -> dict[str, str]:
    units = {
        "spaces": " ",
        "colons": ":",
        "pipes": "|",
        "open-parens": "(",
        "close-parens": ")",
        "letters": "a",
        "word-space": "ab ",
        "pipe-word": "| a ",
        "menu": "Home | ",
        "slash-menu": "a / ",
        "gt-menu": "x > ",
        "bullets": "a · ",
        "paren-words": "(ab) ",
        "credit": "(Getty Images) ",
        "photo": "Photo: ",
        "caps-colon": "BREAKING: ",
        "punctuation": "!?.,;",
        "crlf": "\r\n",
        "nbsp": "\u00a0",
        "cjk": "中文",
        "combining": "e\u0301",
        "emoji": "\U0001f600 ",
        "underscores": "_",
        "surrogates": "\ud800",
    }
    out = {name: (unit * (N // len(unit) + 1))[:N] for name, unit in units.items()}
    # Near misses that make a backtracking engine try every split before failing at the end.
    out["menu-then-long-item"] = ("ab | " * (N // 5)) + "x" * 40
    out["parens-then-spaces-then-text"] = "(ab)" + " " * N + "x"
    out["open-paren-then-text"] = "(" + "a" * N
    out["letters-then-colon"] = "A" * N + ":"
    out["spaces-then-letter"] = " " * N + "a"
    return out


STRINGS = _pathological()


def _package_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Every compiled pattern held by a module of the package, by ``module.NAME``."""
    found = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="dedup."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                found.append((f"{info.name}.{name}", value))
    return sorted(found, key=lambda item: item[0])


PATTERNS = _package_patterns()


def _compile_calls() -> int:
    """How many ``re.compile`` calls the package's source holds."""
    count = 0
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            function = node.func if isinstance(node, ast.Call) else None
            if isinstance(function, ast.Attribute) and function.attr == "compile":
                count += isinstance(function.value, ast.Name) and function.value.id == "re"
    return count


def test_every_regex_of_the_package_is_checked():
    # A pattern compiled inside a function would escape the module scan: keep them at module level.
    assert len(PATTERNS) == _compile_calls()
    assert len(PATTERNS) >= 8


class _Hang(Exception):
    pass


@contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_guarded(function: Callable[[str], Any], name: str) -> None:
    for label, text in STRINGS.items():
        try:
            with hang_guard(GUARD):
                function(text)
        except _Hang:
            pytest.fail(f"{name} ran over {GUARD} s on {N:,} characters of {label!r}")


def test_hang_guard_catches_catastrophic_backtracking():
    evil = re.compile(r"^(a+)+$")

    with pytest.raises(_Hang), hang_guard(1):
        evil.match("a" * 40 + "!")


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[name for name, _ in PATTERNS])
def test_regex_is_linear_on_pathological_input(name, pattern):
    def every_use(text: str) -> None:
        pattern.search(text)
        pattern.match(text)
        pattern.fullmatch(text)
        pattern.sub(" ", text)
        for _ in pattern.finditer(text):
            pass

    run_guarded(every_use, name)


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("topic.form.form_signals", form_signals),
        ("shingle.normalise", normalise),
        ("split.split_paragraphs", split_paragraphs),
        # The form signals look at short lines; a long one must not be slow either.
        ("topic.form.form_signals on 150 characters", lambda text: form_signals(text[:150])),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_functions_using_regexes_are_linear(name, function):
    run_guarded(function, name)
