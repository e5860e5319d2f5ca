"""What a paragraph is: ``line``, ``blank`` and ``auto``, from the command line and the library."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from dedup import Cleaner
from dedup.analysis import analyse_batch, from_wire, to_wire
from dedup.cli import cli
from dedup.config import Config, InputConfig, TopicConfig
from dedup.data import Document
from dedup.errors import ConfigError
from dedup.split import AUTO_RULE_VERSION, choose_mode, join_kept, paragraph_layout, paragraph_spans

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "000_93c3f7158df3345d.txt"
ARTICLE = [line for line in SEED.read_text(encoding="utf-8").split("\n") if line.strip()][:8]


def wrapped(paragraphs: list[str], width: int = 72, newline: str = "\n") -> str:
    return newline.join(textwrap.fill(p, width, break_on_hyphens=False) + newline for p in paragraphs)


WRAPPED = wrapped(ARTICLE)
LINES = sum(1 for line in WRAPPED.split("\n") if line.strip())


# -- the auto rule ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        (WRAPPED, "blank"),
        (wrapped(ARTICLE, newline="\r\n"), "blank"),
        (wrapped(ARTICLE, width=60), "blank"),
        (wrapped(ARTICLE, width=100), "blank"),
        # No blank line between paragraphs: one block, however wrapped.
        (WRAPPED.replace("\n\n", "\n"), "line"),
        # One-line paragraphs, with blank lines or without.
        ("\n\n".join(ARTICLE), "line"),
        ("\n".join(ARTICLE[:3]) + "\n\n" + "\n".join(ARTICLE[3:]), "line"),
        # A menu block beside a wrapped body: the document stays in line mode.
        ("Home\nNews\nSport\nWeather\n\n" + WRAPPED, "line"),
        (WRAPPED + "\nShare this article\nMost read\nNewsletter\n", "line"),
        # A poem quoted in a wrapped article: its lines are not wrapped.
        (WRAPPED + "\nThe rain it raineth every day,\nUpon the just and unjust fellow,\n", "line"),
        # Lines of about the same length that each end a sentence are one-line paragraphs.
        ("\n".join(["The council met on Monday to discuss the new budget plan."] * 3) + "\n\n"
         + "\n".join(["Officials said the vote would be held later in the week."] * 3), "line"),
        # Too wide for a wrapped text file: these lines were never wrapped.
        (wrapped(ARTICLE, width=200), "line"),
        ("", "line"),
        ("\n\n\n", "line"),
    ],
    ids=["lf", "crlf", "width-60", "width-100", "no-blank-lines", "one-line-paragraphs", "one-line-with-blank",
         "menu-beside-wrapped", "chrome-after-wrapped", "poem", "sentence-lines", "too-wide", "empty", "blank-only"],
)
def test_auto_rule(text: str, mode: str) -> None:
    assert choose_mode(text) == mode
    assert paragraph_layout(text, "auto")[0] == mode


@pytest.mark.parametrize("width", [60, 72, 80])
def test_auto_rule_chooses_blocks_for_text_wrapped_by_fmt(width: int) -> None:
    fmt = shutil.which("fmt")
    if fmt is None:
        pytest.skip("fmt (GNU coreutils) is not installed")
    text = subprocess.run([fmt, "-w", str(width)], input="\n\n".join(ARTICLE) + "\n", capture_output=True,
                          text=True, check=True).stdout
    assert choose_mode(text) == "blank"
    assert choose_mode("Home\nNews\nSport\nWeather\n\n" + text) == "line"


def test_auto_rule_reads_wide_characters_as_two_columns() -> None:
    # Chinese text wrapped at 72 columns: 36 characters a line, a break anywhere.
    body = "本市地铁十四号线于周六上午正式开通运营，全长三十二公里，共设二十一座车站，连接城市东部新区与老城中心" * 3
    block = "\n".join(body[i : i + 36] for i in range(0, len(body), 36))
    assert choose_mode(block + "\n\n" + block + "\n") == "blank"
    assert choose_mode(block.replace("\n", "") + "\n\n" + block.replace("\n", "") + "\n") == "line"


_LINE = st.text(alphabet=st.sampled_from(["a", "b", "é", "中", " ", "\t", ".", "\u00a0"]), min_size=1, max_size=90)


@given(st.lists(_LINE, max_size=30), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_auto_and_line_agree_on_every_document_without_blank_lines(lines: list[str], newline: str, edge: bool) -> None:
    text = newline.join(line for line in lines if line.strip()) + (newline if edge else "")
    mode, spans, texts = paragraph_layout(text, "auto")
    line_spans, line_texts = paragraph_spans(text, "line")
    assert mode == "line" == choose_mode(text)
    assert spans.tolist() == line_spans.tolist()
    assert texts == line_texts


# -- blank mode ---------------------------------------------------------------------------------------------------


def test_blank_mode_keeps_inner_line_breaks_in_the_span() -> None:
    text = "  a b\r\nc d  \r\n\r\n\te\r\n"
    spans, texts = paragraph_spans(text, "blank")
    assert texts == ["  a b\r\nc d  ", "\te"]
    assert [text[s:e] for s, e in spans.tolist()] == texts
    assert join_kept(text, spans, [False, True]) == "\te\r\n"
    assert join_kept(text, spans, [True, False]) == "  a b\r\nc d  \r\n"
    assert join_kept(text, spans, [True, True]) == text


def test_an_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="paragraph mode must be one of line, blank, auto"):
        paragraph_layout("a\n\nb", "lines")


def test_analysis_of_a_wrapped_document_sees_whole_paragraphs_and_keeps_the_mode_on_the_wire() -> None:
    config = Config(topic=TopicConfig(enabled=False))
    docs = [Document("wrapped", WRAPPED + "\n" + WRAPPED), Document("lines", "\n".join(ARTICLE))]
    analyses = analyse_batch(docs, config, None)
    assert [a.paragraphs for a in analyses] == ["blank", "line"]
    assert len(analyses[0].spans) == 2 * len(ARTICLE)
    assert [d.kept for d in analyses[0].decisions] == [True] * len(ARTICLE) + [False] * len(ARTICLE)
    # The second copy of each block repeats the first: the flattened blocks shingle like the one-line paragraphs.
    assert analyses[0].keys[: len(ARTICLE)].tolist() == analyses[1].keys.tolist()
    decoded = from_wire(to_wire(analyses), docs)
    assert [a.paragraphs for a in decoded] == ["blank", "line"]


# -- the library --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "chosen", "count"), [("auto", "blank", 8), ("blank", "blank", 8), ("line", "line", LINES)]
)
def test_cleaner_modes(mode: str, chosen: str, count: int) -> None:
    cleaner = Cleaner(Config(input=InputConfig(paragraphs=mode), topic=TopicConfig(enabled=False)))
    result = cleaner.clean_text(WRAPPED, id="w")
    assert result.metadata["paragraphs"] == chosen
    assert len(result.decisions) == count
    assert result.text == WRAPPED


def test_blank_mode_makes_a_document_without_blank_lines_one_paragraph() -> None:
    cleaner = Cleaner(Config(input=InputConfig(paragraphs="blank"), topic=TopicConfig(enabled=False)))
    text = "\n".join(ARTICLE) + "\n"
    result = cleaner.clean_text(text, id="one")
    assert len(result.decisions) == 1
    assert result.text == text


def test_config_validates_and_round_trips_the_mode() -> None:
    with pytest.raises(ConfigError, match="paragraphs must be one of line, blank, auto, got 'lines'"):
        InputConfig(paragraphs="lines")
    with pytest.raises(ConfigError, match=r"input\.paragraphs: expected a string"):
        Config.from_dict({"input": {"paragraphs": 1}})
    for mode in ("line", "blank", "auto"):
        config = Config(input=InputConfig(paragraphs=mode))
        assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert Config().input.paragraphs == "auto"


def test_the_fingerprint_holds_the_mode_and_the_auto_rule_version(monkeypatch: pytest.MonkeyPatch) -> None:
    prints = {mode: Config(input=InputConfig(paragraphs=mode)).fingerprint() for mode in ("line", "blank", "auto")}
    assert len(set(prints.values())) == 3
    assert Config().index_settings()["paragraphs"] == {"mode": "auto", "auto_rule": AUTO_RULE_VERSION}
    monkeypatch.setattr("dedup.split.AUTO_RULE_VERSION", AUTO_RULE_VERSION + 1)
    assert Config().fingerprint() != prints["auto"]
    assert Config(input=InputConfig(paragraphs="line")).fingerprint() == prints["line"]


# -- the command line ---------------------------------------------------------------------------------------------


def _clean(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["clean", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_modes_and_report(tmp_path: Path) -> None:
    source = tmp_path / "in" / "w.txt"
    source.parent.mkdir()
    source.write_text(WRAPPED + "\n" + WRAPPED, encoding="utf-8")
    for mode, chosen, removed in [("auto", "blank", 8), ("blank", "blank", 8), ("line", "line", LINES)]:
        out, report = tmp_path / f"out-{mode}", tmp_path / f"report-{mode}.jsonl"
        code, output = _clean(tmp_path, str(source.parent), "-o", str(out), "--report", str(report),
                              "--paragraphs", mode, "--no-topic")
        assert code == 0, output
        lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
        assert len(lines) == removed
        assert {line["paragraphs"] for line in lines} == {chosen}
        assert (out / "w.txt").read_text(encoding="utf-8") == WRAPPED


def test_cli_refuses_an_unknown_mode(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a\n", encoding="utf-8")
    code, output = _clean(tmp_path, str(source), "-o", str(tmp_path / "out"), "--paragraphs", "lines")
    assert code == 2
    assert "'lines' is not one of 'line', 'blank', 'auto'" in output


def test_an_index_made_with_another_mode_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text(WRAPPED, encoding="utf-8")
    index = str(tmp_path / "index.npz")
    code, output = _clean(tmp_path, str(source), "-o", str(tmp_path / "one"), "--index", index)
    assert code == 0, output
    code, output = _clean(tmp_path, str(source), "-o", str(tmp_path / "two"), "--index", index, "--paragraphs", "line")
    assert code == 1
    assert "paragraphs" in output


def test_a_resumed_run_with_another_mode_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text(WRAPPED, encoding="utf-8")
    state = str(tmp_path / "state")
    code, output = _clean(tmp_path, str(source), "-o", str(tmp_path / "one"), "--state", state)
    assert code == 0, output
    code, output = _clean(tmp_path, str(source), "-o", str(tmp_path / "one"), "--state", state, "--resume",
                          "--paragraphs", "blank")
    assert code == 1
    assert "the state was made with other settings" in output
    assert "paragraphs" in output


# -- the goldens --------------------------------------------------------------------------------------------------

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").exists())


def _run_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[dict, str]:
    case_dir = GOLDEN / name
    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(case_dir)
    jsonl = all(str(i).endswith(".jsonl") for i in case["inputs"])
    output = tmp_path / ("out.jsonl" if jsonl else "out")
    report = tmp_path / "report.jsonl"
    code, text = _clean(tmp_path, *case["inputs"], "-o", str(output), "--report", str(report), *case["options"],
                        *extra)
    assert code == 0, text
    files = {"out.jsonl": output.read_bytes()} if jsonl else {
        p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()
    }
    return files, report.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CASES)
def test_auto_gives_what_line_gives_on_the_goldens_it_leaves_in_line_mode(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = json.loads((GOLDEN / name / "case.json").read_text(encoding="utf-8"))
    auto = _run_case(name, tmp_path / "auto", monkeypatch)
    line = _run_case(name, tmp_path / "line", monkeypatch, "--paragraphs", "line")
    if case.get("auto_chooses", "line") == "line":
        assert auto == line
    else:
        assert auto[0] != line[0]


@pytest.mark.parametrize("name", ["wrapped-txt", "wrapped-txt-crlf"])
def test_wrapped_goldens_say_what_the_issue_says(name: str) -> None:
    """The expected output is the input's article blocks, cut by hand from the input, not a snapshot."""
    case_dir = GOLDEN / name
    data = next((case_dir / "input").iterdir()).read_bytes()
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    blocks = data.split(newline * 2)
    # Three article blocks, the caption, five article blocks, the body again (seven blocks), four teasers.
    assert blocks[3].startswith(b"Photo:") and len(blocks) == 20
    expected = newline.join(block + newline for block in blocks[:3] + blocks[4:9])
    assert next((case_dir / "output").iterdir()).read_bytes() == expected
    reasons = [json.loads(line)["reason"] for line in (case_dir / "report.jsonl").open(encoding="utf-8")]
    assert reasons == ["furniture"] + ["duplicate"] * 7 + ["off_topic"] * 4


def test_the_page_benchmark_lists_the_pages_auto_splits_into_blocks() -> None:
    from benchmarks.pages import Page, blocks_chosen

    pages = [Page("a", "dragnet", WRAPPED, "\n\n".join(ARTICLE), ""), Page("b", "cleaneval", "x\ny", WRAPPED, "")]
    assert blocks_chosen(pages) == {"text": ["a"], "trafilatura": ["b"]}
