"""Find repeated paragraphs within one document.

Exact repeats first: a 64-bit key of the normalised paragraph catches a
body scraped twice at almost no cost. Then near repeats: paragraphs long
enough for shingles to mean something go through MinHash LSH (bands and
rows as datasketch picks them, for a threshold a little below the
decision's, so that pairs at the threshold are found), and every candidate is
verified with the exact Jaccard similarity of the two shingle sets, so LSH
false positives never remove text. Only kept paragraphs are indexed: a
later copy is matched against the first occurrence, never against another
copy. Nothing here decides; :mod:`dedup.decide` does.

A near repeat carries little text of its own: a paragraph that holds
most of an earlier one (:data:`HELD_SHARE` of its shingles) and adds at
least :data:`ADDED_SHINGLES` shingles, and :data:`ADDED_SHARE` of its own,
expands it and is not its copy, however similar the two are. A standfirst
followed by the paragraph that expands it ("The band have announced dates
in Europe." then "The band are getting ready to play UK shows this week,
and have announced dates in Europe."), a quote and the paragraph that
quotes it with more around it: removing the later one would lose what
only it says. A light edit (a synonym, a spelling, a dropped word,
punctuation) changes a dozen shingles or so, and two edits stay under
thirty; a reworded copy, which drops as much of the earlier paragraph as
it adds, is still a near repeat at a loose enough ``threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dedup.config import DedupConfig, ShingleConfig
from dedup.minhash import RECALL_SLACK, band_keys, jaccard, lsh_params

#: A band bucket keeps its first items only: in a document of millions of
#: paragraphs a common band would otherwise make matching quadratic. The
#: first occurrences are the ones a repeat must point at anyway.
_BUCKET_CAP = 64
#: Above this many candidates, signatures screen them before exact comparison.
_PREFILTER_OVER = 16

#: Changes whenever what counts as a repeat within a document changes (it is part of an index's
#: fingerprint). 2: a paragraph that expands an earlier one is not its repeat. 3: a short repeat standing
#: alone is kept (:func:`dedup.decide.repeat_decisions`).
RULE_VERSION = 3
#: A paragraph that holds at least this share of an earlier one's shingles...
HELD_SHARE = 0.7
#: ...and adds at least this many shingles (about as many characters) to it...
ADDED_SHINGLES = 30
#: ...that are at least this share of its own shingles, is not a near repeat of it: it expands it.
ADDED_SHARE = 0.2


@dataclass(frozen=True)
class Repeat:
    """A paragraph that repeats an earlier one of the same document.

    Attributes:
        earlier: The index of the first occurrence.
        score: 1.0 for an exact repeat, else the Jaccard similarity.
        exact: Whether the normalised texts are equal.
    """

    earlier: int
    score: float
    exact: bool


def adds_text(later: np.ndarray, earlier: np.ndarray) -> bool:
    """Whether ``later`` says enough that ``earlier`` does not to be kept beside it.

    Both are sorted, unique shingle hashes.

    Example:
        >>> earlier = np.arange(100, dtype=np.uint64)
        >>> adds_text(np.arange(12, 112, dtype=np.uint64), earlier)  # a light edit: 12 new shingles
        False
        >>> adds_text(np.arange(0, 140, dtype=np.uint64), earlier)  # 40 new of 140
        True
    """
    shared = len(np.intersect1d(later, earlier, assume_unique=True))
    added = len(later) - shared
    return shared >= HELD_SHARE * len(earlier) and added >= ADDED_SHINGLES and added >= ADDED_SHARE * len(later)


def repeat_lsh_params(dedup: DedupConfig, shingle: ShingleConfig) -> tuple[int, int]:
    """LSH bands and rows for within-document repeats."""
    return lsh_params(dedup.threshold, shingle.num_perm, RECALL_SLACK)


def find_repeats(
    keys: Sequence[int],
    hashes: Sequence[np.ndarray],
    signature_rows: np.ndarray,
    long_enough: Sequence[bool],
    dedup: DedupConfig,
    shingle: ShingleConfig,
    band_key_rows: np.ndarray | None = None,
) -> list[Repeat | None]:
    """Match each paragraph against the earlier kept paragraphs of its document.

    Args:
        keys: Exact keys of the paragraphs (see :func:`dedup.shingle.exact_key`).
        hashes: Shingle hashes of each paragraph (repeats allowed).
        signature_rows: MinHash signatures, one row per paragraph.
        long_enough: Which paragraphs may be matched approximately.
        dedup: Thresholds.
        shingle: Permutation settings (for the LSH bands).
        band_key_rows: The signatures' band keys for these settings, if the
            caller computed them for a whole batch at once.

    Returns:
        Per paragraph, ``None`` or the :class:`Repeat` it is.
    """
    bands, rows = repeat_lsh_params(dedup, shingle)
    if band_key_rows is not None:
        all_keys = band_key_rows
    else:
        all_keys = band_keys(signature_rows, bands, rows) if len(signature_rows) else np.zeros((0, bands), np.uint64)
    # Only band keys that two long paragraphs share can ever join a pair: index those alone, so a
    # document of millions of paragraphs does not hold a bucket per key (25 per paragraph).
    long_mask = np.asarray(long_enough, dtype=bool)
    values, counts = np.unique(all_keys[long_mask].ravel(), return_counts=True)
    shared_keys = values[counts > 1]
    if not len(shared_keys) and len(set(keys)) == len(keys):
        return [None] * len(keys)  # most documents: nothing is repeated, nothing to look at
    shared = set(shared_keys.tolist())
    has_shared = (np.isin(all_keys, shared_keys).any(axis=1) & long_mask).tolist()
    unique: dict[int, np.ndarray] = {}  # sorted unique hashes, made only for verified pairs

    def shingle_set(i: int) -> np.ndarray:
        if i not in unique:
            unique[i] = np.unique(hashes[i])
        return unique[i]

    seen: dict[int, int] = {}
    buckets: dict[int, list[int]] = {}
    out: list[Repeat | None] = []
    for i, key in enumerate(keys):
        earlier = seen.get(key)
        if earlier is not None:
            out.append(Repeat(earlier, 1.0, True))
            continue
        repeat = None
        if has_shared[i]:
            candidates = sorted({j for k in all_keys[i].tolist() for j in buckets.get(k, ())})
            if len(candidates) > _PREFILTER_OVER:
                # Many candidates (a very long document): keep those whose signatures agree
                # nearly enough before computing exact shingle sets.
                agree = (signature_rows[candidates] == signature_rows[i]).mean(axis=1)
                candidates = [j for j, a in zip(candidates, agree.tolist(), strict=True) if a >= dedup.threshold - 0.2]
            best = -1.0
            for j in candidates:
                score = jaccard(shingle_set(i), shingle_set(j))
                if score >= dedup.threshold and score > best and not adds_text(shingle_set(i), shingle_set(j)):
                    best, repeat = score, Repeat(j, score, False)
        out.append(repeat)
        if repeat is None:
            seen[key] = i
            if has_shared[i]:
                for k in all_keys[i].tolist():
                    if k not in shared:
                        continue
                    bucket = buckets.setdefault(k, [])
                    if len(bucket) < _BUCKET_CAP:
                        bucket.append(i)
    return out
