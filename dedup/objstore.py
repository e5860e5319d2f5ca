"""Inputs and outputs in object storage: ``s3://``, ``gs://`` and any other URI pyarrow's filesystems open.

A path is a URI when it begins with a scheme and ``://`` (:func:`is_uri`
looks at the string only, so local paths keep their own code). A URI is
opened with :meth:`pyarrow.fs.FileSystem.from_uri`, which finds the
credentials and the endpoint where pyarrow looks for them: for ``s3://``
the standard AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_DEFAULT_REGION``), the
machine's instance role, and ``AWS_ENDPOINT_URL`` for an S3-compatible store
(MinIO, Ceph); for ``gs://`` ``GOOGLE_APPLICATION_CREDENTIALS`` or the
machine's service account. pyarrow's options may also go in the URI's query
(``s3://bucket/key.jsonl?endpoint_override=minio:9000&scheme=http``); a
file's kind is read from the URI without it.

Every failure of the store (unreachable, credentials refused, no such
bucket or object, pyarrow missing) is an
:class:`~dedup.errors.ObjectStoreError` naming the URI and what to do.

Example:
    >>> is_uri("s3://bucket/corpus.jsonl"), is_uri("corpus.jsonl"), is_uri("C:/corpus.jsonl")
    (True, False, False)
    >>> name_of("s3://bucket/a.jsonl.gz?endpoint_override=minio:9000")
    's3://bucket/a.jsonl.gz'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from dedup.errors import ObjectStoreError

INSTALL_HINT = 'object-storage paths need pyarrow: pip install "dedup[s3]" (or "dedup[ray]", which has it)'

_SCHEME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_UNREACHABLE = ("NETWORK_CONNECTION", "COULD NOT CONNECT", "COULDN'T CONNECT", "COULD NOT RESOLVE",
                "COULDN'T RESOLVE", "CURLCODE", "TIMED OUT", "TIMEOUT", "CONNECTION REFUSED")
_DENIED = ("ACCESS_DENIED", "ACCESSDENIED", "ACCESS DENIED", "INVALID_ACCESS_KEY", "INVALIDACCESSKEY",
           "SIGNATURE_DOES_NOT_MATCH", "SIGNATUREDOESNOTMATCH", "EXPIRED_TOKEN", "EXPIREDTOKEN", "FORBIDDEN",
           "UNAUTHORIZED", "UNAUTHENTICATED", "PERMISSION_DENIED", "CREDENTIALS", "RESPONSE CODE 403")
_CREDENTIALS = ("give credentials the store accepts: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                "AWS_PROFILE, or the machine's instance role) for s3://, GOOGLE_APPLICATION_CREDENTIALS or the "
                "machine's service account for gs://")


def is_uri(path: object) -> bool:
    """Whether ``path`` is a URI (``scheme://...``) rather than a local path; looks at the string only.

    A scheme is a letter then letters, digits, ``+``, ``.`` or ``-``, two
    characters at least (``C://`` is a Windows drive).
    """
    if not isinstance(path, str):
        return False
    scheme, found, _ = path.partition("://")
    return bool(found) and len(scheme) >= 2 and scheme[0].isalpha() and _SCHEME_CHARACTERS.issuperset(scheme)


def name_of(path: str) -> str:
    """``path`` without a URI's query: the name whose suffix says the kind and the compression."""
    return path.partition("?")[0] if is_uri(path) else path


def join(uri: str, relative: str) -> str:
    """The URI of ``relative`` under the prefix ``uri`` (its query kept).

    >>> join("s3://bucket/out/?region=eu-west-1", "a/b.txt")
    's3://bucket/out/a/b.txt?region=eu-west-1'
    """
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + relative))


class Location(NamedTuple):
    """An object's filesystem (a ``pyarrow.fs.FileSystem``) and its path in it."""

    fs: Any
    path: str


def locate(uri: str) -> Location:
    """The filesystem and path of ``uri`` (:meth:`pyarrow.fs.FileSystem.from_uri`).

    Raises:
        ObjectStoreError: pyarrow is not installed, the URI is malformed or
            of a kind pyarrow does not know, or the store cannot be reached.
    """
    try:
        from pyarrow import fs
    except ImportError as exc:
        raise ObjectStoreError(INSTALL_HINT, uri) from exc
    with store_errors(uri):
        return Location(*fs.FileSystem.from_uri(uri))


@contextmanager
def store_errors(uri: str, location: Location | None = None) -> Iterator[None]:
    """Turn what pyarrow raises about ``uri`` into an :class:`ObjectStoreError` that says what to do.

    A missing object (``FileNotFoundError``) is told apart from a missing
    bucket when ``location`` is given.
    """
    try:
        yield
    except ObjectStoreError:
        raise
    except FileNotFoundError as exc:
        raise ObjectStoreError(missing(uri, location), uri) from exc
    except (OSError, ValueError, NotImplementedError) as exc:  # pyarrow's errors are these (ArrowInvalid: ValueError)
        raise _error(exc, uri) from exc


def _error(exc: BaseException, uri: str) -> ObjectStoreError:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    upper = detail.upper()
    if any(word in upper for word in _UNREACHABLE):
        return ObjectStoreError(
            f"cannot reach the object store ({detail}); check the endpoint (AWS_ENDPOINT_URL, or "
            "endpoint_override= in the URI), the region and the network", uri)
    if "NO_SUCH_BUCKET" in upper or "NOSUCHBUCKET" in upper:
        return ObjectStoreError(f"no such bucket ({detail}); check the bucket's name, or create it", uri)
    if any(word in upper for word in _DENIED):
        return ObjectStoreError(f"access denied ({detail}); {_CREDENTIALS}", uri)
    if isinstance(exc, NotImplementedError) or "UNRECOGNIZED FILESYSTEM" in upper:
        return ObjectStoreError(
            f"pyarrow cannot open this kind of URI ({detail}); give s3://, gs:// or another scheme pyarrow.fs "
            "knows, or a local path", uri)
    return ObjectStoreError(f"{detail}", uri)


def missing(uri: str, location: Location | None = None) -> str:
    """Why ``uri`` names nothing: no such bucket (when the store says so), or no such object or prefix."""
    if location is not None:
        bucket = location.path.split("/", 1)[0]
        if bucket and bucket != location.path and type(location.fs).__name__ in ("S3FileSystem", "GcsFileSystem"):
            try:
                found = location.fs.get_file_info(bucket).type.name != "NotFound"
            except (OSError, ValueError):
                found = True  # say what is known: the object is missing
            if not found:
                return f"no such bucket {bucket!r}; check the bucket's name (and the endpoint), or create it"
    return "no such object or prefix; check the key (a prefix, like a directory, is read whole)"


class Entry(NamedTuple):
    """What is at a URI: ``"file"``, ``"directory"`` (a prefix with objects under it) or ``"missing"``;
    an object's size and modification time (``None`` when the store does not say)."""

    kind: str
    size: int | None
    mtime_ns: int | None = None


def stat(uri: str) -> Entry:
    """What is at ``uri``.

    Raises:
        ObjectStoreError: The store cannot be asked (unreachable, credentials refused).
    """
    location = locate(uri)
    with store_errors(uri, location):
        info = location.fs.get_file_info(location.path)
    kind = {"File": "file", "Directory": "directory"}.get(info.type.name, "missing")
    if kind != "file":
        return Entry(kind, None)
    return Entry(kind, info.size, info.mtime_ns)


def walk(uri: str) -> list[tuple[str, str, int | None]]:
    """The objects under the prefix ``uri``: (URI, path relative to the prefix, size), sorted by the relative
    path."""
    from pyarrow import fs

    location = locate(uri)
    root = location.path.rstrip("/")
    with store_errors(uri, location):
        infos = location.fs.get_file_info(fs.FileSelector(root, recursive=True))
    found = []
    for info in infos:
        if info.type.name != "File" or not info.path.startswith(root + "/"):
            continue
        relative = info.path[len(root) + 1 :]
        found.append((join(uri, relative), relative, info.size))
    return sorted(found, key=lambda item: item[1])


def size(uri: str) -> int:
    """The size of the object ``uri`` in bytes.

    Raises:
        ObjectStoreError: There is no such object, or the store cannot be asked.
    """
    entry = stat(uri)
    if entry.kind != "file" or entry.size is None:
        raise ObjectStoreError("not an object" if entry.kind == "directory" else missing(uri, locate(uri)), uri)
    return entry.size


def open_input(uri: str) -> Any:
    """The bytes of the object ``uri`` as stored (no decompression), as a stream read from the start.

    Raises:
        ObjectStoreError: It cannot be opened.
    """
    location = locate(uri)
    with store_errors(uri, location):
        return location.fs.open_input_stream(location.path, compression=None)


def open_random(uri: str) -> Any:
    """The object ``uri`` opened for random access (``seek``, ``read_at``, ``size``): a ``pyarrow.NativeFile``.

    Raises:
        ObjectStoreError: It cannot be opened.
    """
    location = locate(uri)
    with store_errors(uri, location):
        return location.fs.open_input_file(location.path)


def read_range(uri: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the object ``uri``, read with one ranged request.

    Raises:
        ObjectStoreError: It cannot be read.
    """
    handle = open_random(uri)
    try:
        with store_errors(uri):
            return bytes(handle.read_at(end - start, start))
    finally:
        handle.close()
