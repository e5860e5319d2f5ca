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
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, get_type_hints

from dedup.errors import ConfigError, ModelError

#: The datasketch permutation scheme our signatures reproduce. datasketch 2.x
#: changed its default, so the scheme is always passed explicitly.
MINHASH_SCHEME = "affine32"
#: The shingle hash (:func:`dedup.shingle.shingle_hash`) and its version: change
#: the name when the hash changes, so indexes built with the old one are refused.
SHINGLE_HASH = "poly64-fold32/1"
#: What a paragraph can be (:data:`dedup.split.MODES`): one line, a block between blank lines, or chosen per document.
PARAGRAPH_MODES = ("line", "blank", "auto")


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
class FurnitureConfig:
    """Page furniture: menus, link lists, share widgets, comments, footers (see ``docs/furniture.md``).

    Two rules find it. The article region (:mod:`dedup.region`, on by
    default) removes what stands outside the page's heaviest blocks of
    prose: menus before the article, link lists and footers after it. The
    learned furniture model is off by default: on the real-page benchmark
    (``benchmarks/pages.py``) it does not yet beat the input as is
    (``benchmarks/README.md``). Captions, photo credits and chrome lines are
    ``furniture`` either way: the topic stage names them so.

    Attributes:
        enabled: Remove paragraphs the furniture model scores as furniture.
        threshold: Furniture probability at or above which a paragraph is
            removed; ``None`` uses the model's own threshold (chosen by
            cross-validation when it was fitted).
        model: Path of a furniture model (``benchmarks/train_furniture.py``
            saves one); ``None`` uses the model shipped with the package.
        region: Remove the paragraphs that stand outside the page's article
            region (:mod:`dedup.region`).
    """

    enabled: bool = False
    threshold: float | None = None
    model: str | None = None
    region: bool = True

    def __post_init__(self) -> None:
        if self.threshold is not None:
            _check_range("furniture threshold", self.threshold, 0.0, 1.0)


@dataclass(frozen=True)
class InputConfig:
    """How records are read.

    Attributes:
        text_field: The JSON key that holds a document's text.
        id_field: The JSON key that holds a document's id.
        max_doc_bytes: Largest document accepted, in UTF-8 bytes.
        max_paragraphs: Most paragraphs accepted in one document.
        paragraphs: What a paragraph is (:mod:`dedup.split`): ``"line"``, one
            non-blank line; ``"blank"``, a block of lines between blank lines;
            ``"auto"``, ``"blank"`` for documents of hard-wrapped prose and
            ``"line"`` for the others (:func:`dedup.split.choose_mode`).
    """

    text_field: str = "text"
    id_field: str = "id"
    max_doc_bytes: int = 16 * 1024 * 1024
    max_paragraphs: int = 100_000
    paragraphs: str = "auto"

    def __post_init__(self) -> None:
        if not self.text_field or not self.id_field:
            raise ConfigError("text_field and id_field must be non-empty")
        if self.text_field == self.id_field:
            raise ConfigError(f"text_field and id_field must differ, both are {self.text_field!r}")
        _check_range("max_doc_bytes", self.max_doc_bytes, 1, 2**40)
        _check_range("max_paragraphs", self.max_paragraphs, 1, 2**31)
        if self.paragraphs not in PARAGRAPH_MODES:
            raise ConfigError(
                f"paragraphs must be one of {', '.join(PARAGRAPH_MODES)}, got {self.paragraphs!r}"
            )


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
    furniture: FurnitureConfig = field(default_factory=FurnitureConfig)
    input: InputConfig = field(default_factory=InputConfig)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "config") -> Config:
        """The config that :meth:`to_dict` describes: the inverse of :meth:`to_dict`.

        Sections and keys left out take their defaults; each value goes
        through the same validation as a config built in code.

        Args:
            data: A dict of sections (``shingle``, ``dedup``, ``topic``,
                ``input``), each a dict of settings.
            source: Where ``data`` came from, named in error messages.

        Returns:
            The config.

        Raises:
            ConfigError: ``data`` is not a dict of dicts, names a section or
                a setting that does not exist, or holds a value of the wrong
                type or out of range.

        Example:
            >>> from dedup.config import Config
            >>> Config.from_dict({"dedup": {"doc_threshold": 0.8}}).dedup.doc_threshold
            0.8
            >>> Config.from_dict(Config().to_dict()) == Config()
            True
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a dict of sections, got {type(data).__name__}")
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(
                f"{source}: unknown section {unknown[0]!r}; the sections are {', '.join(sorted(sections))}"
            )
        built = {}
        for name, section in data.items():
            section_type = get_type_hints(cls)[name]
            built[name] = _section_from_dict(section_type, section, f"{source}: {name}")
        return cls(**built)

    @classmethod
    def from_summary(cls, path: str | os.PathLike[str]) -> Config:
        """The settings a run recorded in its summary (``dedup clean --summary``).

        Repeats a run: ``clean_files(inputs, output, Config.from_summary("summary.json"))``.

        Args:
            path: A summary JSON file.

        Returns:
            The config of that run.

        Raises:
            ConfigError: The file cannot be read, is not JSON, has no
                ``config`` object, or its settings are not valid.
        """
        name = os.fspath(path)
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read the summary ({exc.strerror or exc})") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{name}: not a summary JSON file written by `dedup clean --summary` ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise ConfigError(
                f'{name}: no "config" object; expected a summary JSON file written by `dedup clean --summary`'
            )
        return cls.from_dict(data["config"], source=f"{name}: config")

    def index_settings(self) -> dict[str, Any]:
        """The settings that decide what an index holds, as plain JSON-ready values.

        That is: the shingling and MinHash scheme (shingle size, permutations,
        seed, datasketch's permutation scheme, the shingle hash, the sketch
        width and the LSH recall slack, which decide band keys and sketches);
        every repeat and document setting (thresholds, which stages are on,
        the boilerplate settings) with the version of the rule that says what
        a repeat within a document is; and the topic stage, whose removals change
        the text a document is indexed by: on or off, its thresholds and
        rounds, the versions of its signals and of its removal rules, and the
        model's identity (``"default"`` for the shipped model, else
        ``"file"``) with the SHA-256 of its content (see :func:`model_digest`).
        The model's path is left out on purpose: the same model at another
        path (on another machine sharing a Redis index) builds the same index.
        What a paragraph is (the ``paragraphs`` mode, and for ``auto`` the
        version of its rule) is in: it decides the paragraphs an index holds.
        The input field names and limits are left out: they decide which
        records are read, not what an index holds.

        Raises:
            ModelError: The topic stage is on and its model file cannot be read.
        """
        # Imported here: dedup.minhash imports this module.
        from dedup.decide import TOPIC_RULES_VERSION
        from dedup.match import RULE_VERSION as REPEAT_RULE_VERSION
        from dedup.minhash import RECALL_SLACK, SKETCH_BITS
        from dedup.region import RULE_VERSION as REGION_RULE_VERSION
        from dedup.split import AUTO_RULE_VERSION
        from dedup.topic.features import SIGNALS_VERSION

        topic: dict[str, Any] = {"enabled": self.topic.enabled}
        if self.topic.enabled:
            topic.update(
                threshold=self.topic.threshold,
                inner_threshold=self.topic.inner_threshold,
                rounds=self.topic.rounds,
                model="default" if self.topic.model is None else "file",
                model_sha256=model_digest(self.topic.model),
                signals=SIGNALS_VERSION,
                rules=TOPIC_RULES_VERSION,
            )
        furniture: dict[str, Any] = {
            "enabled": self.furniture.enabled,
            "region": REGION_RULE_VERSION if self.furniture.region else False,
        }
        if self.furniture.enabled:
            furniture.update(
                threshold=self.furniture.threshold,
                model="default" if self.furniture.model is None else "file",
                model_sha256=model_digest(self.furniture.model, kind="furniture"),
            )
        return {
            "minhash": {
                "scheme": MINHASH_SCHEME,
                "shingle_hash": SHINGLE_HASH,
                "sketch_bits": SKETCH_BITS,
                "recall_slack": RECALL_SLACK,
            },
            "shingle": dataclasses.asdict(self.shingle),
            "dedup": {**dataclasses.asdict(self.dedup), "repeat_rule": REPEAT_RULE_VERSION},
            "topic": topic,
            "furniture": furniture,
            "paragraphs": {
                "mode": self.input.paragraphs,
                **({"auto_rule": AUTO_RULE_VERSION} if self.input.paragraphs == "auto" else {}),
            },
        }

    def fingerprint(self) -> str:
        """A short hash of :meth:`index_settings`: the settings that decide what an index holds.

        Deterministic: the settings are serialised as JSON with sorted keys
        and hashed with SHA-256 (the first 16 hex digits are kept). Two
        configs with the same fingerprint build interchangeable indexes;
        opening an index built under another fingerprint is an
        :class:`~dedup.errors.IndexMismatchError`, which names the settings
        that differ when the index stored them beside its fingerprint.

        Raises:
            ModelError: The topic stage is on and its model file cannot be read.
        """
        return settings_digest(self.index_settings())


def _section_from_dict(section_type: type[Any], data: Any, where: str) -> Any:
    """One section of :meth:`Config.from_dict`: checks names and value types, then builds it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a dict of settings, got {type(data).__name__}")
    hints = get_type_hints(section_type)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; the settings are {', '.join(sorted(hints))}")
    for key, value in data.items():
        if not _fits(hints[key], value):
            raise ConfigError(f"{where}.{key}: expected {_type_name(hints[key])}, got {value!r}")
    try:
        return section_type(**data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _fits(hint: Any, value: Any) -> bool:
    """Whether ``value`` is of the annotated type (bool is not an int, an int is a float)."""
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, int)
    if hint is float:
        return isinstance(value, int | float)
    if hint is str:
        return isinstance(value, str)
    if hint == str | None:
        return value is None or isinstance(value, str)
    if hint == float | None:
        return value is None or isinstance(value, int | float)
    raise TypeError(f"no check for a setting of type {hint!r}")  # a new field type needs a case here


def _type_name(hint: Any) -> str:
    if hint == str | None:
        return "a string or null"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


def settings_digest(settings: dict[str, Any]) -> str:
    """The fingerprint of an :meth:`Config.index_settings` dict."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


#: The file of each model shipped in ``dedup/models/``.
_SHIPPED_MODELS = {"topic": "default.npz", "furniture": "furniture.npz"}


def model_digest(path: str | None, kind: str = "topic") -> str:
    """The SHA-256 (hex) of a model file; ``None`` is the model of that ``kind`` shipped with the package.

    Cached by path, size and modification time, so a config's fingerprint
    reads a model once however often it is asked for, and a model file
    rewritten in place gets a new digest.

    Raises:
        ModelError: The file is missing or unreadable.
    """
    if path is None:
        # The shipped models sit beside this module (dedup/models/); their modules load scikit-learn.
        path = str(Path(__file__).resolve().parent / "models" / _SHIPPED_MODELS[kind])
    make = "create one with `dedup fit-topic`" if kind == "topic" else "fit one with benchmarks/train_furniture.py"
    try:
        stat = os.stat(path)
        return _file_digest(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no such model file; {make}") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {kind} model ({exc})") from exc


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of the file at ``path``; ``size`` and ``mtime_ns`` are part of the cache key only."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
