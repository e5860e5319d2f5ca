"""The article region (dedup.region) and its stage in the cleaner."""

from __future__ import annotations

import random

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st

from dedup import Cleaner, Config, FurnitureConfig, Reason, TopicConfig, TopicModel
from dedup.analysis import analyse_batch
from dedup.cli import cli
from dedup.data import Document
from dedup.region import (
    BLOCK_CHARS,
    BLOCK_SHARE,
    COMMENTS_MIN_BEFORE,
    HEADLINE_SHARE,
    HEADLINE_WORDS,
    LINES_BEFORE,
    OUTSIDE,
    SENTENCE_CHARS,
    SHORT_COST,
    TAIL_LINES,
    THREAD_FIRST,
    THREAD_MIN_BEFORE,
    article_weights,
    comments_start,
    is_headline,
    maximal_segments,
    outside_scores,
    prose_weights,
    thread_follows,
)

CUT = OUTSIDE

MENU = ["Home", "World", "Business", "Sport", "Weather", "Video", "Sign in", "Subscribe"]
ARTICLE = [
    "The council approved the new budget on Tuesday after a debate that lasted most of the afternoon, "
    "and the leader of the opposition said the vote had been rushed through before the summer recess.",
    "Officials said the plan would cut spending on roads by a tenth over the next three years, while "
    "money for schools and libraries would rise in line with inflation from April.",
    "Residents who spoke at the meeting were divided, and several of them asked for the decision on the "
    "library in the north of the town to be put off until the autumn.",
]
FOOTER = [
    "Share on Facebook", "Share on Twitter", "Most read", "Privacy policy", "Terms of use", "Cookies",
    "Contact us", "About us", "Advertise", "Careers", "Newsletters", "Site map", "Accessibility",
    "Help", "RSS", "Archive", "Corrections", "© 2024 Example News Ltd",
]


def _brute_segments(w: list[float], lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """Maximal segments by definition: the best segment, then the same left and right of it."""
    hi = len(w) if hi is None else hi
    best, where = 0.0, None
    for a in range(lo, hi):
        total = 0.0
        for b in range(a, hi):
            total += w[b]
            if total > best:
                best, where = total, (a, b + 1)
    if where is None:
        return []
    return [*_brute_segments(w, lo, where[0]), where, *_brute_segments(w, where[1], hi)]


@given(st.lists(st.sampled_from([-30.0, -1.0, 0.0, 5.0, 20.0, 50.0, 300.0]), max_size=30), st.randoms())
def test_maximal_segments_match_their_definition(values: list[float], random) -> None:
    # Distinct tiny offsets: with ties, two stretches of equal weight are both "the best".
    weights = [v + 1e-6 + random.random() * 1e-3 for v in values]
    got = maximal_segments(np.array(weights))
    assert [(a, b) for a, b, _ in got] == _brute_segments(weights)
    for a, b, weight in got:
        assert weight > 0 and np.isclose(weight, sum(weights[a:b]))


def test_maximal_segments_alternating_short_prose_and_labels() -> None:
    # A comment thread: a name, a short comment, a name... Every comment is its own segment.
    weights = np.tile([-SHORT_COST, 25.0], 1000)
    got = maximal_segments(weights)
    assert len(got) == 1000 and all(b - a == 1 for a, b, _ in got)


def test_prose_weights_tell_prose_from_labels_and_lists() -> None:
    w = prose_weights([
        "Home",                                                   # a label: costs
        "Contact us",                                             # two words: costs
        "Austin, TX – The Alamo Drafthouse South Lamar (Tickets)",  # words, few function words: neutral
        ARTICLE[0],                                               # prose: its width
        "Московский городской суд в понедельник отклонил апелляцию и оставил приговор в силе без изменений.",
        "市议会周二批准了公共图书馆的新预算，在北部增加了两个分馆，馆员们和读者们对此表示欢迎。",
        "市议会周二批准了新预算。",
    ])
    assert w[0] == w[1] == -SHORT_COST
    assert w[2] == 0
    assert w[3] == len(ARTICLE[0])
    assert w[4] > 0  # any language: a long line that ends a sentence is prose
    assert w[5] == 2 * 43  # wide characters count two columns, as in the paragraph-mode rule
    assert w[6] == -SHORT_COST  # one word to the splitter, and short


def test_menu_and_footer_stand_outside_the_article() -> None:
    page = [*MENU, "Council approves budget", *ARTICLE, *FOOTER]
    scores = outside_scores(prose_weights(page))
    outside = scores > CUT
    first = len(MENU) + 1
    assert not outside[first : first + len(ARTICLE)].any()
    assert not outside[first - LINES_BEFORE : first].any()  # headline and the lines just before it
    assert outside[: first - LINES_BEFORE].all()
    assert outside[first + len(ARTICLE) + 1 :].all()  # one line after the article is its sign-off
    assert (scores[first : first + len(ARTICLE)] == 0).all()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_a_short_article_beside_a_longer_comment_thread_is_kept() -> None:
    comments = [
        "I could not agree more with the point about the library, which is the only one that is open "
        "on Sundays and is used by all of the schools in the north of the town." for _ in range(12)
    ]
    page = [*MENU, ARTICLE[1], *MENU, *comments, *FOOTER]
    assert len(ARTICLE[1]) >= BLOCK_CHARS
    scores = outside_scores(prose_weights(page))
    assert scores[len(MENU)] <= CUT  # its block is lighter than a fifth of the thread's, but a paragraph


def test_pages_without_a_paragraph_of_prose_keep_everything() -> None:
    for page in (MENU, ["Line one of a poem,", "and line two of it;"], ["A line of text.", "\ud800!", "more"]):
        assert (outside_scores(prose_weights(page)) == 0).all()


def test_a_short_run_at_the_end_of_the_page_is_the_articles() -> None:
    fixtures = ["Leeds v Hull", "Tottenham v Brighton", "Chelsea v Scunthorpe", "Reading v Stockport"]
    page = ["Cup draw", *ARTICLE, *fixtures]
    assert (outside_scores(prose_weights(page)) <= CUT).all()
    long_tail = ["Cup draw", *ARTICLE, *(fixtures * ((TAIL_LINES // len(fixtures)) + 2))]
    assert (outside_scores(prose_weights(long_tail)) > CUT).any()


def test_list_items_that_adjoin_the_article_are_its() -> None:
    items = [f"Branch {n} opens on Monday at the old station" for n in range(30)]  # words, few function words
    page = [*MENU, *ARTICLE, *items, *FOOTER]
    outside = outside_scores(prose_weights(page)) > CUT
    start = len(MENU) + len(ARTICLE)
    assert not outside[start : start + len(items)].any()
    assert outside[start + len(items) + 1 :].all()


# -- in the cleaner ----------------------------------------------------------------------------------


PAGE = "\n".join([*MENU, "Council approves budget", *ARTICLE, *FOOTER]) + "\n"


def test_the_cleaner_removes_what_stands_outside_as_furniture() -> None:
    result = Cleaner(Config()).clean_text(PAGE, id="page")
    region = [d for d in result.decisions if d.metadata.get("model") == "region"]
    assert region and all(d.reason is Reason.FURNITURE for d in region)
    for d in region:
        assert CUT < d.score <= 1.0
        assert set(d.metadata["signals"]) == {"outside_article"}
    assert all(line in result.text for line in ARTICLE)
    assert "Home\n" not in result.text and "Site map" not in result.text
    # Kept paragraphs are the input's bytes, and cleaning the output again finds nothing more outside.
    assert result.text == "".join(line + "\n" for line in PAGE.splitlines() if line in result.text.splitlines())
    again = Cleaner(Config()).clean_text(result.text, id="page")
    assert not [d for d in again.decisions if d.metadata.get("model") == "region"]


def test_the_rule_can_be_switched_off() -> None:
    result = Cleaner(Config(furniture=FurnitureConfig(region=False))).clean_text(PAGE, id="page")
    assert not [d for d in result.decisions if d.metadata.get("model") == "region"]
    assert result.text.startswith("Home\n")


def test_a_repeat_outside_the_region_hands_over_to_its_copy_in_the_article() -> None:
    """Never lose the article: the menu repeats the article's first paragraph as a teaser. The repeat
    stage keeps the first copy (in the menu), the region removes it, and the copy in the article is
    put back: the article keeps its lead."""
    lead = "The town will keep its northern library open for two more years."
    more = (
        "The leader of the council said that the savings found elsewhere in the budget would pay for the "
        "library, and that the decision would be looked at again when the next budget is set in two years."
    )
    article = [lead, *ARTICLE, more]
    # Alone among menu items, the lead weighs less than a tenth of the rest of the article: no block of
    # the region.
    assert len(lead) < BLOCK_SHARE * sum(map(len, article[1:]))
    teaser_block = [*MENU[:4], lead, *MENU[4:], *MENU, *MENU]
    page = "\n".join([*teaser_block, "Council approves budget", *article, *FOOTER])
    result = Cleaner(Config()).clean_text(page, id="page")
    lines = page.split("\n")
    copies = [d for d in result.decisions if lines[d.index] == lead]
    assert [d.reason for d in copies] == [Reason.FURNITURE, None]
    assert copies[0].metadata["model"] == "region"
    assert all(line in result.text for line in article)


def test_the_option_reaches_the_command(tmp_path) -> None:
    src = tmp_path / "page.txt"
    src.write_text(PAGE, encoding="utf-8")
    runner = CliRunner()
    on = runner.invoke(cli, ["clean", str(src), "-o", str(tmp_path / "on"), "-q"])
    off = runner.invoke(cli, ["clean", str(src), "-o", str(tmp_path / "off"), "--no-article-region", "-q"])
    assert on.exit_code == off.exit_code == 0, (on.output, off.output)
    assert not (tmp_path / "on" / "page.txt").read_text(encoding="utf-8").startswith("Home\n")
    assert (tmp_path / "off" / "page.txt").read_text(encoding="utf-8").startswith("Home\n")


def _outside(weights: list[float]) -> list[bool]:
    return (outside_scores(np.array(weights, dtype=float)) > CUT).tolist()


def test_short_prose_counts_above_the_article_but_not_below_it() -> None:
    """A short article above a long comment thread is kept by its length; after the heaviest block
    (the article), a comment of the same length needs a tenth of the article's weight."""
    labels = [-SHORT_COST] * 20
    above = _outside([*labels, 160.0, *labels, 2000.0, *labels])
    assert above[20] is False
    below = _outside([*labels, 2000.0, *labels, 160.0, *labels])
    assert below[41] is True
    assert below[20] is False


def test_a_long_list_between_two_parts_of_the_article_is_the_articles() -> None:
    labels = [-SHORT_COST] * 25
    outside = _outside([*labels, 500.0, *labels, 300.0, *labels])
    assert not any(outside[25:52])  # both blocks and the list between them
    assert all(outside[: 25 - LINES_BEFORE]) and all(outside[53:])


def test_headlines_after_the_article_weigh_nothing_though_they_hold_function_words() -> None:
    headlines = [
        "Man Arrested After Police Chase Through the Centre of Town",
        "How to Film a Car Chase with No Safety Considerations (and Fast Resets)",
        "\u201cWe Will Not Back Down on the Library\u201d",
    ]
    assert all(is_headline(h) for h in headlines)
    others = [
        "Man Arrested After Police Chase Through the Centre of Town.",  # ends like a sentence: prose
        "Man arrested after police chase through the centre of town",  # sentence case: prose by its words
        "Most Read Today",  # a short headline is a label, and costs
    ]
    page = [*MENU, *headlines, *FOOTER[:6], *ARTICLE, *headlines, *others]
    after = len(MENU) + len(headlines) + 6 + len(ARTICLE)
    words, weights = prose_weights(page), article_weights(page)
    assert (words[after : after + 3] > 0).all() and (weights[after : after + 3] == 0).all()
    # Before the article's block starts (a sidebar above it), headlines weigh what their words do.
    assert np.array_equal(weights[:after], words[:after])
    assert np.array_equal(weights[after + 3 :], words[after + 3 :])
    assert weights[-3] > 0 and weights[-2] > 0 and weights[-1] == -SHORT_COST


def _headline_by_definition(text: str) -> bool:
    stripped = text.strip()
    end = stripped.rstrip(")\"”’'»")
    if not end or end[-1] in ".!?…\"”’'»)。！？":
        return False
    minor = {"a", "an", "the", "and", "or", "of", "in", "on", "to", "for", "with", "at", "by", "from", "as", "is", "vs"}
    words = [w for w in stripped.split() if any(c.isalpha() for c in w) and w.lower() not in minor]
    return len(words) >= HEADLINE_WORDS and sum(w[0].isupper() for w in words) >= HEADLINE_SHARE * len(words)


@given(st.lists(st.sampled_from(["Man", "man", "the", "The", "OF", "(and", "iPad", "2012", "|", "Vote.", "Park)"]),
                max_size=12))
@example(["Man", "Man", "iPad", "Man", "Man"])  # four in five exactly
@example(["Man", "Man", "Man", "Man", "iPad"])
def test_is_headline_matches_its_definition(words: list[str]) -> None:
    """The early exit on a line with too many lower-case words changes no answer."""
    text = " ".join(words)
    assert is_headline(text) is _headline_by_definition(text)


def test_a_list_of_headlines_after_the_article_stands_outside_it() -> None:
    related = [
        "Council Leader Faces Vote of No Confidence Over the Budget",
        "Library in the North of the Town to Close in the Autumn",
        "Roads Budget Cut by a Tenth as Schools Get More Money",
        "Residents Divided Over the Plans for the Town Centre",
    ] * 3
    page = [*MENU, "Council approves budget", *ARTICLE, *FOOTER[:2], "Related stories", *related, *FOOTER[2:]]
    outside = outside_scores(article_weights(page)) > CUT
    start = len(MENU) + 1
    assert not outside[start : start + len(ARTICLE)].any()
    assert outside[start + len(ARTICLE) + 1 :].all()
    # Read as prose by their function words, the headlines were a block of their own, kept with all
    # that stands between it and the article.
    assert not (outside_scores(prose_weights(page)) > CUT)[start + len(ARTICLE) + 1 :].any()


def test_rules_and_introducing_labels_weigh_nothing() -> None:
    w = prose_weights(["|---|---|---|", "* * *", "Upcoming screenings:", "Screenings"])
    assert w.tolist() == [0.0, 0.0, 0.0, -SHORT_COST]


def test_explain_names_the_article_region(tmp_path) -> None:
    src = tmp_path / "page.txt"
    src.write_text(PAGE, encoding="utf-8")
    out = CliRunner().invoke(cli, ["explain", str(src), "--id", "page.txt"])
    assert out.exit_code == 0, out.output
    assert "[0] removed  furniture  score 1.000  (article region)  signals: outside_article +1.000" in out.output


@pytest.mark.parametrize("topic", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_no_article_text_is_lost_with_its_copy_in_the_furniture(seed: int, topic: bool) -> None:
    """The invariant with the region at work: pages whose menus and footers repeat article lines
    (teasers of the page's own story). A repeat always points at a copy that is kept, and no article
    paragraph is lost to the region or to the repeats: one that is gone went as off-topic, the topic
    stage's own call on these shuffled articles (a few in each batch)."""
    rng = random.Random(seed)
    labels = [*MENU, *FOOTER]
    prose = [*ARTICLE, *(f"{line} It said the {n} options would be put to residents in the spring." for n, line in
                         enumerate(["Councillors met again on Thursday.", "The library will stay open.",
                                    "Road repairs will be slower.", "Schools will get more money."]))]
    docs, articles = [], []
    for i in range(60):
        article = rng.sample(prose, k=rng.randint(3, len(prose)))
        before = rng.choices(labels, k=rng.randint(0, 20))
        after = rng.choices(labels, k=rng.randint(16, 30))
        for part in (before, after):  # the article's own lines shown as teasers among the furniture
            for line in rng.sample(article, k=rng.randint(0, 2)):
                part.insert(rng.randint(0, len(part)), line)
        docs.append(Document(f"p{i}", "\n".join([*before, *article, *after])))
        articles.append(article)
    # Without the topic stage the region's own hand-over is all that keeps the article's copy.
    analyses = analyse_batch(docs, Config(topic=TopicConfig(enabled=topic)), TopicModel.default())
    region_removals = repeats = off_topic = 0
    for analysis, article in zip(analyses, articles, strict=True):
        kept = {analysis.paragraph(d.index) for d in analysis.decisions if d.kept}
        for d in analysis.decisions:
            region_removals += d.metadata.get("model") == "region"
            if d.reason in (Reason.DUPLICATE, Reason.NEAR_DUPLICATE):
                repeats += 1
                assert analysis.decisions[d.duplicate_of.paragraph].kept, (analysis.doc.id, d)
        for line in set(article) - kept:
            copies = [d.reason for d in analysis.decisions if analysis.paragraph(d.index) == line]
            assert set(copies) == {Reason.OFF_TOPIC}, (analysis.doc.id, line, copies)
            off_topic += 1
    assert region_removals > 150 and repeats > 30 and off_topic <= 3


# -- reader comments ----------------------------------------------------------------------------------

COMMENTS = [
    "Posted by liz at May 29, 2005 10:19:16 PM",
    "I have lived in the north of the town for twenty years and the library is the only place where my "
    "children can do their homework in peace, so I hope that the council will think again about it.",
    "Reply",
    "Posted by sam at May 29, 2005 11:02:40 PM",
    "The roads are in a terrible state and it is about time that somebody said so. The money has to come "
    "from somewhere, and I would rather it came from the library than from the schools of the town.",
    "Reply",
]  # prose, as the article is: the blocks alone keep it


def test_reader_comments_open_after_most_of_the_prose() -> None:
    page = [*MENU, *ARTICLE, "12 Comments", *COMMENTS, "Leave a Reply", *FOOTER]
    assert comments_start(page, prose_weights(page)) == len(MENU) + len(ARTICLE)


@pytest.mark.parametrize(
    "opening",
    [
        "3 Comments:",
        "Leave a Reply",
        "Post a comment",
        "Comments (12)",
        "Reader comments",
        "24 responses",
        "Search 340 Comments Log In/Create an Account",  # a count after other words
        "100 of 545 comments loaded twitter facebook",
    ],
)
def test_the_opening_lines_of_a_thread(opening: str) -> None:
    page = [*ARTICLE, opening, *COMMENTS]
    assert comments_start(page, prose_weights(page)) == len(ARTICLE)


@pytest.mark.parametrize(
    "line",
    [
        "Comments (0)",  # no thread follows
        "No comments yet",
        "Readers left more comments on this story than on any other this year.",  # a sentence
        "Editor's Pick: Promoted Reader Comment",  # only a count may stand after other words
        "Comments (18) / Post Comment",
    ],
)
def test_lines_that_open_no_thread(line: str) -> None:
    page = [*ARTICLE, line, *COMMENTS]
    assert comments_start(page, prose_weights(page)) == len(page)


@pytest.mark.parametrize("heading", ["Comments", "Comment:", "Responses"])
def test_a_bare_heading_opens_only_a_stamped_thread(heading: str) -> None:
    """A menu's "Comments" link, or a section of opinion pieces, reads the same as a thread's title."""
    page = [*ARTICLE, heading, *COMMENTS]
    assert comments_start(page, prose_weights(page)) == len(ARTICLE)
    for page in ([*ARTICLE, heading, *FOOTER], [*MENU, heading, *ARTICLE, *COMMENTS]):
        assert comments_start(page, prose_weights(page)) == len(page)


def test_a_longer_line_with_a_count_opens_only_a_stamped_thread() -> None:
    """ "{ 87 comments… read them below or add one }" over a thread; a post's byline over its text."""
    line = "{ 87 comments… read them below or add one }"
    page = [*ARTICLE, line, *COMMENTS]
    assert comments_start(page, prose_weights(page)) == len(ARTICLE)
    byline = "Posted on: 08-17-2012 With: 1 Comment Posted by: Bob Walsh"
    page = [*ARTICLE, byline, *ARTICLE, *ARTICLE]
    assert comments_start(page, prose_weights(page)) == len(page)


def test_a_count_above_the_article_opens_nothing() -> None:
    """ "45 comments" under the headline, "Add a comment" above the article: most prose comes after."""
    page = ["Council approves budget", "45 comments", "Add a comment", *ARTICLE, *FOOTER]
    assert comments_start(page, prose_weights(page)) == len(page)


def test_a_thread_longer_than_its_article_opens_at_its_line() -> None:
    """Most of the prose after the line, but stamped comments follow it: the thread starts there."""
    thread = COMMENTS * 4
    page = [*MENU, *ARTICLE, "24 Comments", *thread, *FOOTER]
    weights = prose_weights(page)
    opening = len(MENU) + len(ARTICLE)
    assert weights[opening + 1 :].clip(0).sum() > weights[:opening].clip(0).sum()
    assert thread_follows(page, weights, opening)
    assert comments_start(page, weights) == opening


def test_a_short_post_over_a_long_thread() -> None:
    """Two paragraphs of a post (366 columns) open a stamped thread; one paragraph (193) is too little."""
    assert THREAD_MIN_BEFORE <= sum(map(len, ARTICLE[:2])) < COMMENTS_MIN_BEFORE
    page = [*ARTICLE[:2], "119 Comments", *COMMENTS * 4]
    assert comments_start(page, prose_weights(page)) == 2
    page = [ARTICLE[0], "119 Comments", *COMMENTS * 4]
    assert len(ARTICLE[0]) < THREAD_MIN_BEFORE
    assert comments_start(page, prose_weights(page)) == len(page)


def test_one_line_comments_count_as_comments() -> None:
    """Short comments that end like sentences make a thread; headlines between the stamps do not."""
    comments = ["Wow. This is ridiculous, and I said so.", "I use it all the time in the city!", "Thank you for this!"]
    stamps = [f"Jo {n} - July 10th, 2012, 1:2{n} am" for n in range(3)]
    thread = [line for stamp, text in zip(stamps, comments, strict=True) for line in (stamp, text, "Reply")]
    headlines = [f"The council meets on day {n} of the week" for n in range(3)]
    related = [line for stamp, text in zip(stamps, headlines, strict=True) for line in (stamp, text)]
    for after, follows in ((thread, True), (related, False)):
        page = [*ARTICLE, "199 Comments", *after * 3]
        weights = prose_weights(page)
        assert (weights[len(ARTICLE) + 1 :] < SENTENCE_CHARS).all()  # no comment is a sentence wide
        assert thread_follows(page, weights, len(ARTICLE)) is follows


@pytest.mark.parametrize(
    "after",
    [
        # Stories stamped with their times: no prose between the stamps.
        [line for n in range(6) for line in (f"Budget story number {n} of the week", f"October {n + 1}, 11:00 AM")],
        # Stamped comments, but only further down the page.
        [*(ARTICLE * 4)[: THREAD_FIRST + 1], *COMMENTS * 3],
        # Prose and no stamps: the article starts after the line.
        [*ARTICLE, *ARTICLE],
    ],
    ids=["stamped-headlines", "stamps-far-down", "no-stamps"],
)
def test_a_line_with_most_prose_after_it_opens_nothing_without_a_thread(after: list[str]) -> None:
    page = [*ARTICLE[:2], "24 Comments", *after]
    weights = prose_weights(page)
    assert not thread_follows(page, weights, 2)
    assert comments_start(page, weights) == len(page)


@pytest.mark.parametrize(
    "stamp",
    [
        "Jo, 10:15 pm",
        "by jo on Tuesday July 24, @10:15AM (#40749677)",
        "Jo wrote at 22:05",
        "Reply to this",
        "09. Jul, 2012 / Courtney says:",  # a byline with no time
        "by ravenswood1000 (543817) writes:",
        "October 2, 2012, | Permalink",
        "by jo (1153867) writes: < jo@example.com > on Tuesday July 24, @11:29AM (#40750213) Journal",
    ],
)
def test_the_stamps_of_a_comment(stamp: str) -> None:
    page = ["12 Comments", *[line for text in ARTICLE for line in (stamp, text)]]
    assert thread_follows(page, prose_weights(page), 0)


def test_a_comment_may_carry_three_stamps() -> None:
    """A byline, a time and a reply link around each comment: one comment for three stamps is a thread."""
    comment = ["Jo says:", "June 27th, 2012 at 7:03 am", ARTICLE[0], "[ Reply ]"]
    page = ["Comments (87)", *comment * 4]
    assert thread_follows(page, prose_weights(page), 0)
    page = ["Comments (87)", *[*comment, "Flag this reply"] * 4]  # four stamps a comment: stamped headlines
    assert not thread_follows(page, prose_weights(page), 0)


def test_a_thread_needs_its_stamps_near_the_line() -> None:
    base = ["Jo, 10:15 pm", ARTICLE[0], "Reply", "Sam, 10:40 pm", ARTICLE[1], "Reply"]
    for gap in range(THREAD_FIRST + 3):
        page = ["12 Comments", *["Share"] * gap, *base]
        assert thread_follows(page, prose_weights(page), 0) is (gap <= THREAD_FIRST)


def test_counts_of_other_stories_after_the_thread_do_not_close_it() -> None:
    """Related stories under the thread carry counts of another form: the thread still opens at its line."""
    related = ["Council sets date for library vote", "136 comments", "Roads plan goes to consultation", "60 comments"]
    page = [*ARTICLE, "Search 545 Comments Log In/Create an Account", *COMMENTS * 4, *related]
    assert comments_start(page, prose_weights(page)) == len(ARTICLE)


def test_counts_that_close_each_post_of_a_list_open_nothing() -> None:
    posts = [[paragraph, f"Comments ({n})"] for n, paragraph in enumerate(ARTICLE * 2, start=3)]
    page = [line for post in posts for line in post]
    assert comments_start(page, prose_weights(page)) == len(page)


def test_the_cleaner_removes_reader_comments_as_furniture_and_keeps_the_article() -> None:
    page = "\n".join(["Council approves budget", *ARTICLE, "12 Comments", *COMMENTS, "Leave a Reply"]) + "\n"
    result = Cleaner(Config()).clean_text(page, id="page")
    comments = [d for d in result.decisions if "reader_comments" in d.metadata.get("signals", {})]
    lines = page.splitlines()
    opening = 1 + len(ARTICLE)
    assert comments[0].index == opening
    assert all(d.reason is Reason.FURNITURE and d.score == 1.0 for d in comments)
    # Every paragraph from the opening on goes.
    removed = result.decisions[opening:]
    assert len(removed) == len(lines) - opening and not any(d.kept for d in removed)
    assert {d.reason for d in removed} == {Reason.FURNITURE}
    assert result.text == "".join(line + "\n" for line in ["Council approves budget", *ARTICLE])
    # The blocks alone keep the thread: comments are prose.
    off = Cleaner(Config(furniture=FurnitureConfig(region=False))).clean_text(page, id="page")
    assert "12 Comments\n" in off.text and COMMENTS[1] in off.text
