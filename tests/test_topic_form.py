"""The form signals: one paragraph's shape, case by case.

The patterns' running time is held by ``tests/test_regex_safety.py``.
"""

from __future__ import annotations

import pytest

from dedup.topic.form import FORM_SIGNALS, form_signals

LONG = "Officials said the talks would resume next week in Geneva, where both delegations have taken rooms. " * 2


@pytest.mark.parametrize(
    ("text", "signal", "expected"),
    [
        ("She said it was over.", "unterminated", 0.0),
        ("He said: “it is over.”", "unterminated", 0.0),
        ("  Is it over?  ", "unterminated", 0.0),
        ("FOOTBALL: United won 2-0 at home on Saturday and moved top of the", "unterminated", 1.0),
        ("", "unterminated", 1.0),
        ("DEMONSTRATIONS: A protester said she could not wait for the next election.", "kicker", 1.0),
        ("‘POINT OF NO RETURN’: The Caribbean nation needs funding.", "kicker", 1.0),
        ("Demonstrations: a protester said she could not wait.", "kicker", 0.0),
        ("UK: rates rise.", "kicker", 0.0),  # two letters are an abbreviation, not a kicker
        ("Photo: Reuters", "caption", 1.0),
        ("Photo: EPA-EFE / Xinhua / Ding Lin", "caption", 1.0),
        ("(Image: Jane Doe / EPA)", "caption", 1.0),
        ("Pictured: the minister arriving in Rome.", "caption", 1.0),
        ("The minister arriving in Rome on Friday (Getty Images)", "caption", 1.0),
        ("Getty Images", "caption", 1.0),
        ("AFP / Jane Doe", "caption", 1.0),
        ("Police pictured the suspect in Rome on Friday.", "caption", 0.0),
        ("Share this article", "chrome", 1.0),
        ("Most read", "chrome", 1.0),
        ("Home > News > World", "chrome", 1.0),
        ("© 2005 BBC", "chrome", 1.0),
        ("Sign up to our morning newsletter", "chrome", 1.0),
        ("News  Sport  Weather  Travel", "chrome", 1.0),
        ("The share price fell sharply on Monday.", "chrome", 0.0),
        (LONG + "Photo: Reuters", "caption", 0.0),  # captions are short: a long paragraph is spared the search
        (LONG + "Share this article", "chrome", 0.0),
    ],
)
def test_form_signal(text: str, signal: str, expected: float) -> None:
    assert form_signals(text)[FORM_SIGNALS.index(signal)] == expected


def test_a_plain_sentence_has_no_form() -> None:
    assert form_signals("Rain fell on Paris all day.") == (0.0, 0.0, 0.0, 0.0)
