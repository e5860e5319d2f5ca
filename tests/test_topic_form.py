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
        ("体育｜国家队在世界杯预选赛中以二比零战胜对手", "kicker", 1.0),
        ("娱乐｜知名导演新作首映礼昨晚举行", "kicker", 1.0),
        ("【独家】多地出台新政支持青年就业创业", "kicker", 1.0),
        ("「速報」東京で震度三の地震", "kicker", 1.0),
        ("「ありがとう」と彼は言った。", "kicker", 0.0),  # a quotation opening a sentence
        ("外交部发言人表示：中方对此坚决反对。", "kicker", 0.0),  # a speaker, not a label
        ("新华社北京3月1日电——记者从有关部门获悉", "kicker", 0.0),  # a dateline
        ("ПОЛИТИКА: Госдума приняла законопроект", "kicker", 1.0),
        ("СПОРТ | Сборная России обыграла Финляндию", "kicker", 1.0),
        ("Политика: Госдума приняла законопроект", "kicker", 0.0),
        ("WIRTSCHAFT • Die Inflation sinkt", "kicker", 1.0),
        ("LONDON — The prime minister said on Monday", "kicker", 0.0),  # capitals before a dash: a dateline
        ("| NEWS CATEGORIES: NEWS ARCHIVE |", "kicker", 1.0),  # a table row's opening bar ends no label
        ("Foto: Michael Kappeler/dpa", "caption", 1.0),
        ("Фото: Сергей Бобылев/ТАСС", "caption", 1.0),
        ("图片来源：新华社", "caption", 1.0),
        ("图片来源：新华社", "kicker", 0.0),
        ("（新华社记者 王鹏 摄）", "caption", 1.0),
        ("BILD-Serie: Der Faktor", "caption", 0.0),
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
        ("Copyright 2012 The Associated Press. All rights reserved.", "chrome", 1.0),
        ("The council approved the budget. Share this article", "chrome", 1.0),  # four words: no sentence
        # An article's sentence with a credit after it: the notice follows eight words that ended a sentence.
        ("I still cannot believe that this is a pencil drawing. Artwork and photos © DiegoKoi", "chrome", 0.0),
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


def test_table_bars_make_no_kicker() -> None:
    """Tag-stripped tables put "|" between cells: a row's leading bars are no label, and a label with
    nothing after its bar is a cell or a heading, not a teaser's kicker."""
    from dedup.topic.form import form_signals

    assert form_signals("|  | PAUL WOLFOWITZ: Thank you very much. |  | ")[1] == 1.0  # the row's text has one
    assert form_signals("| EARLIER STORIES |  | ")[1] == 0.0
    assert form_signals("| THE TRIBUNE SPECIALS | ")[1] == 0.0
    assert form_signals("ПОЛИТИКА | Дума приняла закон")[1] == 1.0
