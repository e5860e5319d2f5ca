"""Within-document repeat matching."""

from __future__ import annotations

import numpy as np
import pytest

from dedup.config import DedupConfig, ShingleConfig
from dedup.match import Repeat, adds_text, find_repeats, repeat_lsh_params
from dedup.minhash import band_keys, jaccard, signatures
from dedup.shingle import exact_key, normalise, shingle_hashes

P1 = "The Madrid-based Safeguard Defenders reported in September that 54 such stations allegedly existed."
P2 = "Italy, which is home to 330,000 Chinese citizens, hosts the highest number of these police stations."


def _repeats(paragraphs: list[str], dedup: DedupConfig | None = None) -> list[Repeat | None]:
    dedup = dedup or DedupConfig()
    shingle = ShingleConfig()
    norms = [normalise(p) for p in paragraphs]
    hashes = [shingle_hashes(n, shingle.size) for n in norms]
    return find_repeats(
        [exact_key(n) for n in norms],
        hashes,
        signatures(hashes, shingle),
        [len(n) >= dedup.min_chars for n in norms],
        dedup,
        shingle,
    )


def test_exact_repeat_points_at_first() -> None:
    assert _repeats([P1, P2, P1, P1]) == [None, None, Repeat(0, 1.0, True), Repeat(0, 1.0, True)]


def test_case_and_quotes_count_as_exact() -> None:
    out = _repeats([P1, P1.upper().replace("-", " ")])
    assert out[1] == Repeat(0, 1.0, True)


@pytest.mark.parametrize(
    "edited",
    [
        P1.replace("September", "October"),  # a changed word
        P1.replace("such ", ""),  # a dropped word
        P1.replace("Madrid-based", "Madrid based").replace(".", "!"),  # punctuation only: exact
        P1.replace("reported in September", "in September reported"),  # word order
    ],
)
def test_light_edits_are_near_duplicates(edited: str) -> None:
    out = _repeats([P1, P2, edited])
    assert out[2] is not None and out[2].earlier == 0
    assert out[2].score >= DedupConfig().threshold


def test_different_paragraphs_are_not_repeats() -> None:
    assert _repeats([P1, P2]) == [None, None]


def test_short_lines_are_compared_exactly_only() -> None:
    out = _repeats(["Read more here", "Read more there", "Read more here"])
    assert out == [None, None, Repeat(0, 1.0, True)]


def test_copies_match_the_first_occurrence_not_each_other() -> None:
    edit1 = P1.replace("September", "October")
    edit2 = edit1.replace("54", "55")
    out = _repeats([P1, edit1, edit2])
    assert out[1] is not None and out[1].earlier == 0
    assert out[2] is not None and out[2].earlier == 0


def test_threshold_controls_near_matches() -> None:
    edited = P1.replace("September", "October").replace("54", "fifty-four")
    assert _repeats([P1, edited], DedupConfig(threshold=0.99))[1] is None
    assert _repeats([P1, edited], DedupConfig(threshold=0.5))[1] is not None


def test_cjk_near_duplicates_found() -> None:
    a = "中国在世界各地设立了一百多个非官方的警察站，西班牙人权组织称。"
    b = "中国在世界各地设立了一百多个非官方警察站，西班牙人权组织表示。"
    out = _repeats([a, b])
    assert out[1] is not None and not out[1].exact


def test_band_keys_of_a_whole_batch_give_the_same_repeats() -> None:
    """The cleaner passes band keys computed for a whole batch; a document's slice of them finds the same repeats."""
    dedup, shingle = DedupConfig(), ShingleConfig()
    documents = [
        [P1, P2, P1.replace("September", "October")],
        [P2, "Completely unrelated words about a football match.", P2.upper()],
        [P1],
    ]
    flat = [normalise(p) for doc in documents for p in doc]
    hashes = [shingle_hashes(n, shingle.size) for n in flat]
    sigs = signatures(hashes, shingle)
    batch_keys = band_keys(sigs, *repeat_lsh_params(dedup, shingle))
    start = 0
    for doc in documents:
        end = start + len(doc)
        args = ([exact_key(n) for n in flat[start:end]], hashes[start:end], sigs[start:end],
                [len(n) >= dedup.min_chars for n in flat[start:end]], dedup, shingle)
        alone = find_repeats(*args)
        assert find_repeats(*args, batch_keys[start:end]) == alone
        assert alone == _repeats(doc)
        start = end
    assert [r is not None for r in _repeats(documents[0])] == [False, False, True]
    assert [r is not None for r in _repeats(documents[1])] == [False, False, True]


# A standfirst, then the paragraph that expands it (as on a real music-news page).
STANDFIRST = "The band have now unveiled plans for a number of headline dates throughout mainland Europe."
EXPANDED = (
    "The band are getting ready to play a handful of UK shows this week, and have now unveiled plans "
    "for a number of headline dates throughout mainland Europe."
)


def test_a_paragraph_that_adds_text_of_its_own_is_not_a_repeat() -> None:
    dedup = DedupConfig()
    norms = [normalise(p) for p in (STANDFIRST, EXPANDED)]
    earlier, later = (np.unique(shingle_hashes(n, ShingleConfig().size)) for n in norms)
    assert jaccard(later, earlier) >= dedup.threshold  # similar enough to be a near repeat by similarity alone
    assert adds_text(later, earlier)
    assert _repeats([STANDFIRST, P2, EXPANDED]) == [None, None, None]


def test_two_light_edits_still_make_a_near_repeat() -> None:
    twice = P1.replace("September", "October").replace("allegedly", "reportedly")
    norms = [normalise(p) for p in (P1, twice)]
    earlier, later = (np.unique(shingle_hashes(n, ShingleConfig().size)) for n in norms)
    assert not adds_text(later, earlier)
    out = _repeats([P1, twice])
    assert out[1] is not None and out[1].earlier == 0


def test_added_text_is_counted_against_the_later_paragraph_alone() -> None:
    # The earlier paragraph expands the later one: the later adds nothing, so it goes.
    out = _repeats([EXPANDED, P2, STANDFIRST])
    assert out[2] is not None and out[2].earlier == 0


def test_the_repeat_rule_version_is_part_of_the_index_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    from dedup import match
    from dedup.config import Config

    assert Config().index_settings()["dedup"]["repeat_rule"] == match.RULE_VERSION
    before = Config().fingerprint()
    monkeypatch.setattr(match, "RULE_VERSION", match.RULE_VERSION + 1)
    assert Config().fingerprint() != before


def test_a_reworded_copy_expands_nothing() -> None:
    """It adds as much as it drops: at a loose enough threshold it is still a near repeat."""
    earlier = np.arange(100, dtype=np.uint64)
    reworded = np.arange(45, 145, dtype=np.uint64)  # keeps 55 of the earlier's shingles, adds 45
    assert not adds_text(reworded, earlier)
    expanded = np.arange(20, 145, dtype=np.uint64)  # keeps 80, adds 45
    assert adds_text(expanded, earlier)
