"""Configuration: one frozen, validated tree of settings.

The CLI turns its options into a :class:`Config` in one place
(:func:`dedup.cli.config_from_options`); the library never sees click.
:meth:`Config.fingerprint` names the settings that decide what an index
contains, and every persisted index carries it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from dedup.errors import ConfigError

#: The datasketch permutation scheme our signatures reproduce. datasketch 2.x
#: changed its default, so the scheme is always passed explicitly.
MINHASH_SCHEME = "affine32"


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")


@dataclass(frozen=True)
class ShingleConfig:
    """How text becomes a set of shingles.

    Attributes:
        size: Characters per shingle, taken from the normalised text
            (case-folded, NFKC, punctuation removed, whitespace collapsed).
            Character shingles hold up on short paragraphs and on scripts
            written without spaces.
        num_perm: MinHash permutations per signature.
        seed: Seed of the MinHash permutations.
    """

    size: int = 5
    num_perm: int = 128
    seed: int = 1

    def __post_init__(self) -> None:
        _check_range("shingle size", self.size, 2, 32)
        _check_range("num_perm", self.num_perm, 16, 1024)
        if self.num_perm % 16:
            raise ConfigError(f"num_perm must be a multiple of 16, got {self.num_perm}")
        _check_range("seed", self.seed, 0, 2**32 - 1)


@dataclass(frozen=True)
class DedupConfig:
    """Repeat detection.

    Attributes:
        enabled: Remove exact and near-duplicate paragraphs within a document.
        threshold: Jaccard similarity of shingle sets at or above which a
            paragraph is a near duplicate of an earlier one.
        min_chars: Paragraphs whose normalised text is shorter than this are
            compared exactly only: a few words give too few shingles for a
            meaningful similarity.
        documents: Drop documents whose cleaned text near-duplicates an earlier one.
        doc_threshold: Estimated Jaccard similarity for a document duplicate.
        cross_doc_paragraphs: Also remove paragraphs repeated from earlier documents.
        boilerplate: Remove short lines that already appeared in other documents.
        boilerplate_min_docs: A line is boilerplate once it has appeared in
            this many earlier documents.
        boilerplate_max_chars: Only lines up to this length can be boilerplate.
    """

    enabled: bool = True
    threshold: float = 0.5
    min_chars: int = 24
    documents: bool = True
    doc_threshold: float = 0.7
    cross_doc_paragraphs: bool = False
    boilerplate: bool = False
    boilerplate_min_docs: int = 2
    boilerplate_max_chars: int = 200

    def __post_init__(self) -> None:
        _check_range("dup threshold", self.threshold, 0.05, 1.0)
        _check_range("doc threshold", self.doc_threshold, 0.05, 1.0)
        _check_range("min_chars", self.min_chars, 0, 10_000)
        _check_range("boilerplate_min_docs", self.boilerplate_min_docs, 1, 1_000_000)
        _check_range("boilerplate_max_chars", self.boilerplate_max_chars, 1, 1_000_000)


@dataclass(frozen=True)
class TopicConfig:
    """Off-topic detection.

    Attributes:
        enabled: Score paragraphs against their document's topic.
        threshold: Off-topic probability at or above which a paragraph in the
            trailing run of off-topic paragraphs is removed.
        inner_threshold: The stricter probability needed to remove a
            paragraph that has article text after it.
        model: Path of a topic model saved by ``dedup fit-topic``; ``None``
            uses the model shipped with the package.
        rounds: Most times a document is scored: after a removal, its
            remaining paragraphs are scored again (see :mod:`dedup.decide`).
    """

    enabled: bool = True
    threshold: float = 0.5
    inner_threshold: float = 0.9
    model: str | None = None
    rounds: int = 3

    def __post_init__(self) -> None:
        _check_range("topic threshold", self.threshold, 0.0, 1.0)
        _check_range("inner topic threshold", self.inner_threshold, 0.0, 1.0)
        if self.rounds < 1:
            raise ConfigError(f"topic rounds must be at least 1, got {self.rounds}")


@dataclass(frozen=True)
class InputConfig:
    """How records are read.

    Attributes:
        text_field: The JSON key that holds a document's text.
        id_field: The JSON key that holds a document's id.
        max_doc_bytes: Largest document accepted, in UTF-8 bytes.
        max_paragraphs: Most paragraphs accepted in one document.
    """

    text_field: str = "text"
    id_field: str = "id"
    max_doc_bytes: int = 16 * 1024 * 1024
    max_paragraphs: int = 100_000

    def __post_init__(self) -> None:
        if not self.text_field or not self.id_field:
            raise ConfigError("text_field and id_field must be non-empty")
        if self.text_field == self.id_field:
            raise ConfigError(f"text_field and id_field must differ, both are {self.text_field!r}")
        _check_range("max_doc_bytes", self.max_doc_bytes, 1, 2**40)
        _check_range("max_paragraphs", self.max_paragraphs, 1, 2**31)


@dataclass(frozen=True)
class Config:
    """All settings of a :class:`dedup.Cleaner`.

    Example:
        >>> from dedup.config import Config, DedupConfig
        >>> config = Config(dedup=DedupConfig(doc_threshold=0.8))
        >>> config.dedup.doc_threshold
        0.8
        >>> len(config.fingerprint())
        16
    """

    shingle: ShingleConfig = field(default_factory=ShingleConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    topic: TopicConfig = field(default_factory=TopicConfig)
    input: InputConfig = field(default_factory=InputConfig)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A short hash of the settings that decide what an index holds.

        Two configs with the same fingerprint build interchangeable indexes;
        opening an index built under another fingerprint is an error.
        """
        keyed = {
            "scheme": MINHASH_SCHEME,
            "shingle": dataclasses.asdict(self.shingle),
            "threshold": self.dedup.threshold,
            "doc_threshold": self.dedup.doc_threshold,
            "min_chars": self.dedup.min_chars,
        }
        blob = json.dumps(keyed, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
