"""Paragraph splitting keeps every byte: join(kept) reproduces the input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup.split import join_kept, join_paragraphs, paragraph_spans, split_paragraphs


@pytest.mark.parametrize(
    ("text", "paragraphs", "seps", "tail"),
    [
        ("a\nb", ["a", "b"], ["", "\n"], ""),
        ("a\nb\n", ["a", "b"], ["", "\n"], "\n"),
        ("a\r\nb\r\n", ["a", "b"], ["", "\r\n"], "\r\n"),
        ("a\rb", ["a", "b"], ["", "\r"], ""),
        ("a\n\n  \n\tb", ["a", "\tb"], ["", "\n\n  \n"], ""),
        ("\n\na  \n", ["a  "], ["\n\n"], "\n"),
        ("one line", ["one line"], [""], ""),
    ],
)
def test_split_cases(text: str, paragraphs: list[str], seps: list[str], tail: str) -> None:
    paras, head, found_tail = split_paragraphs(text)
    assert [p.text for p in paras] == paragraphs
    assert [p.sep for p in paras] == seps
    assert [p.index for p in paras] == list(range(len(paragraphs)))
    assert head == seps[0]
    assert found_tail == tail


@pytest.mark.parametrize("text", ["", "   ", "\n\n", " \r\n\t"])
def test_blank_text_has_no_paragraphs(text: str) -> None:
    paras, head, tail = split_paragraphs(text)
    assert paras == []
    assert head == text
    assert tail == ""
    assert join_paragraphs([], head, tail) == ""


def test_removing_first_paragraph_leaves_no_leading_break() -> None:
    paras, head, tail = split_paragraphs("junk\r\nkeep one\r\n\r\nkeep two\r\n")
    assert join_paragraphs(paras[1:], head, tail) == "keep one\r\n\r\nkeep two\r\n"


def test_removing_last_paragraph_keeps_trailing_newline_rule() -> None:
    paras, head, tail = split_paragraphs("a\nb\nteaser")
    assert join_paragraphs(paras[:2], head, tail) == "a\nb"
    paras, head, tail = split_paragraphs("a\nb\nteaser\n")
    assert join_paragraphs(paras[:2], head, tail) == "a\nb\n"


@given(st.text(alphabet=st.sampled_from("ab \t\r\n\u2028é中"), max_size=60))
def test_join_all_is_identity_up_to_blank_edges(text: str) -> None:
    paras, head, tail = split_paragraphs(text)
    joined = join_paragraphs(paras, head, tail)
    if paras:
        assert joined == text
        assert all(p.text in text and p.text.strip() for p in paras)
    else:
        assert joined == ""


@given(st.text(max_size=200), st.data())
def test_any_subset_is_made_of_input_lines(text: str, data: st.DataObject) -> None:
    paras, head, tail = split_paragraphs(text)
    keep = [p for p in paras if data.draw(st.booleans())]
    out = join_paragraphs(keep, head, tail)
    for p in keep:
        assert p.text in out
    assert out == "" or out.endswith(tail)


@pytest.mark.parametrize("mode", ["line", "blank", "auto"])
@given(st.text(alphabet=st.sampled_from(["a", "b", " ", "\t", "\n", "\r", "\u2028", "\x1c", "é"]), max_size=40),
       st.lists(st.booleans(), max_size=40))
def test_spans_and_join_kept_agree_with_split_and_join(mode: str, text: str, flags: list[bool]) -> None:
    paragraphs, head, tail = split_paragraphs(text, mode)
    spans, texts = paragraph_spans(text, mode)
    assert texts == [p.text for p in paragraphs] == [text[s:e] for s, e in spans.tolist()]
    kept = (flags + [True] * len(paragraphs))[: len(paragraphs)]
    expected = join_paragraphs([p for p, k in zip(paragraphs, kept, strict=True) if k], head, tail)
    assert join_kept(text, spans, kept) == expected


@given(st.lists(st.text(alphabet=st.sampled_from("ab \t\u00a0é"), min_size=1, max_size=12), max_size=12),
       st.lists(st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\n \r\n", "\n\t\n\n"]), max_size=12))
def test_blank_mode_paragraphs_are_the_runs_of_lines_between_blank_lines(lines: list[str], breaks: list[str]) -> None:
    lines = [line for line in lines if line.strip()]
    text = lines[0] if lines else ""
    for line, brk in zip(lines[1:], breaks + ["\n"] * len(lines), strict=False):
        text += brk + line
    blank_line = r"(?:\r\n|\r(?!\n)|\n)[^\S\r\n]*(?:\r\n|\r(?!\n)|\n)"
    blocks = [" ".join(block.split()) for block in re.split(blank_line, text) if block.strip()]
    spans, texts = paragraph_spans(text, "blank")
    assert [" ".join(t.split()) for t in texts] == blocks
    assert [text[s:e] for s, e in spans.tolist()] == texts
