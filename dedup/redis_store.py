"""A Redis index store: one index shared by many processes and machines.

Every call is one round trip: a Lua script that the server runs as one
atomic step, so two processes submitting near duplicates of each other at
the same moment keep exactly one of them.

- ``check_and_insert``: the script reads the item's band buckets, compares
  the item's sketch with each candidate's by counting agreeing 4-bit
  values (integers only: Lua has no exact 64-bit arithmetic and a float
  returned by a script becomes an integer), and either returns the best
  candidate's ref and agreement count, or inserts the item. The threshold
  goes in as the smallest agreement count whose estimate, computed in
  Python exactly as :func:`dedup.minhash.sketch_similarity` computes it,
  reaches the threshold, and the score comes back from the count the same
  way: the decisions are the in-memory store's, candidate for candidate.
- ``check_and_insert_exact``: ``SET NX`` semantics on a hash field,
  returning the earlier ref.
- ``add_and_count``: the first document of a key is a hash field; from the
  second on, the key gets a set of document ids, and the answer is the
  number of other ids in it.

Layout, all under one hash tag so the index lives in one Redis Cluster
slot (``NS`` is the namespace, ``{p}`` the prefix):

==========================  ======================================================
``{p}:meta``                hash: format version, fingerprint, settings (JSON)
``{p}:seq:NS``              counter: items inserted so far (an item's number)
``{p}:bands:NS``            hash: folded 32-bit band key (4 bytes) -> item numbers
                            (4 bytes each, in insertion order)
``{p}:sketches:NS``         string: item ``i``'s sketch at byte ``i * width``
``{p}:refs:NS``             hash: item number -> ref
``{p}:exact:NS``            hash: 64-bit key (8 bytes) -> ref
``{p}:first:NS``            hash: 64-bit key -> first document id
``{p}:docs:NS:KEY``         set: the document ids of a key seen in two or more
==========================  ======================================================

Everything is raw bytes; nothing is pickled. A ref is stored as
``PARAGRAPH:ID`` (an empty paragraph for a whole document).

Transient failures (connection refused or reset, timeouts) are retried with
exponential backoff; a retried call that may already have run answers as
the first run did (an item finding its own ref answers "inserted"), so a
lost reply never turns an item into a duplicate of itself.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dedup.bands import BandIndex
from dedup.data import Ref
from dedup.errors import ConfigError, IndexMismatchError, IndexStoreError
from dedup.minhash import SKETCH_BITS
from dedup.store import IndexStore, Match, mismatch_message

__all__ = ["RedisStore"]

#: Version of the key layout above, kept in ``{prefix}:meta``.
LAYOUT_VERSION = 1
#: Tries of a call that fails for a transient reason, and the first pause between them (doubled each time).
TRIES = 4
BACKOFF = 0.1

_T = TypeVar("_T")

# The scripts count agreement on 4-bit values, two to a byte.
if SKETCH_BITS != 4:  # pragma: no cover - a guard for whoever changes the sketch
    raise ImportError("dedup.redis_store compares 4-bit sketches; update its Lua script for the new width")

_META = """
local found = redis.call('HMGET', KEYS[1], 'version', 'fingerprint', 'settings')
if found[2] then return found end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'fingerprint', ARGV[2], 'settings', ARGV[3])
return false
"""

# KEYS: bands, sketches, refs, seq. ARGV: sketch, ref, needed, clamp, retry, band field...
_CHECK_AND_INSERT = """
local bands, sketches, refs, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sketch, ref = ARGV[1], ARGV[2]
local needed, clamp, retry = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local width = #sketch
local nfields = #ARGV - 5
local fields = {}
for i = 1, nfields do fields[i] = ARGV[i + 5] end
local buckets = {}
if nfields > 0 then buckets = redis.call('HMGET', bands, unpack(fields)) end
-- Candidates: every item in any of the buckets, once, in insertion order.
local seen, candidates = {}, {}
for i = 1, nfields do
  local bucket = buckets[i]
  if bucket then
    for p = 1, #bucket, 4 do
      local a, b, c, d = string.byte(bucket, p, p + 3)
      local item = ((a * 256 + b) * 256 + c) * 256 + d
      if not seen[item] then
        seen[item] = true
        candidates[#candidates + 1] = item
      end
    end
  end
end
table.sort(candidates)
-- Agreement: how many of the 4-bit values (two a byte) are equal.
local mine = {string.byte(sketch, 1, -1)}
local best, best_rank, best_agree = nil, -1, 0
for _, item in ipairs(candidates) do
  local other = redis.call('GETRANGE', sketches, item * width, item * width + width - 1)
  if #other == width then
    local agree = 0
    for k = 1, width do
      local x, y = mine[k], string.byte(other, k)
      if x == y then
        agree = agree + 2
      else
        if x % 16 == y % 16 then agree = agree + 1 end
        if x - x % 16 == y - y % 16 then agree = agree + 1 end
      end
    end
    -- Below `clamp` the estimate is 0: those counts tie, and the earliest wins, as in memory.
    local rank = agree
    if rank < clamp then rank = 0 end
    if rank >= needed and rank > best_rank then
      best, best_rank, best_agree = item, rank, agree
    end
  end
end
if best then
  local found = redis.call('HGET', refs, best)
  if not (retry and found == ref) then return {found, best_agree} end
  return false
end
local item = redis.call('INCR', seq) - 1
redis.call('SETRANGE', sketches, item * width, sketch)
local packed = string.char(math.floor(item / 16777216) % 256, math.floor(item / 65536) % 256,
                           math.floor(item / 256) % 256, item % 256)
for i = 1, nfields do
  redis.call('HSET', bands, fields[i], (buckets[i] or '') .. packed)
end
redis.call('HSET', refs, item, ref)
return false
"""

# KEYS: exact. ARGV: key, ref, retry.
_CHECK_AND_INSERT_EXACT = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if found then
  if ARGV[3] == '1' and found == ARGV[2] then return false end
  return found
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return false
"""

# KEYS: first, docs. ARGV: key, doc.
_ADD_AND_COUNT = """
local first = redis.call('HGET', KEYS[1], ARGV[1])
if not first then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
if first == ARGV[2] and redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SADD', KEYS[2], first, ARGV[2])
return redis.call('SCARD', KEYS[2]) - 1
"""


def _estimate(agree: int, width: int) -> float:
    """:func:`dedup.minhash.sketch_similarity` from the agreement count of two ``width``-byte sketches.

    The same expression in the same order, so the same float.
    """
    chance = 1.0 / (1 << SKETCH_BITS)
    return max(0.0, (agree / (2 * width) - chance) / (1.0 - chance))


@lru_cache(maxsize=256)
def agreement_bounds(width: int, threshold: float) -> tuple[int, int]:
    """The integer form of a threshold, for the server.

    Returns:
        ``(needed, clamp)``: the smallest agreement count whose estimate
        reaches ``threshold`` (``2 * width + 1`` if none does), and the
        smallest whose estimate is above zero.
    """
    counts = range(2 * width + 1)
    needed = next((a for a in counts if _estimate(a, width) >= threshold), 2 * width + 1)
    clamp = next((a for a in counts if _estimate(a, width) > 0.0), 2 * width + 1)
    return needed, clamp


def _encode_ref(ref: Ref) -> bytes:
    paragraph = "" if ref.paragraph is None else str(ref.paragraph)
    return f"{paragraph}:{ref.id}".encode("utf-8", "surrogatepass")


def _decode_ref(raw: bytes) -> Ref:
    paragraph, _, id = raw.decode("utf-8", "surrogatepass").partition(":")
    return Ref(id, int(paragraph) if paragraph else None)


def _key64(key: int) -> bytes:
    return struct.pack(">Q", key & 0xFFFFFFFFFFFFFFFF)


def public_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RedisStore(IndexStore):
    """An index on a Redis server, shared by every process that opens the same URL.

    Args:
        url: ``redis://[[USER]:PASSWORD@]HOST:PORT/DB?prefix=NAME`` (or
            ``rediss://`` for TLS). ``prefix`` (default ``dedup``) names the
            index: every key is under the hash tag ``{NAME}``; other query
            arguments go to redis-py (``socket_timeout=...``).
        fingerprint: The fingerprint of the settings in use; the first
            client stores it (and ``settings``) in ``{NAME}:meta``, and a
            client with another fingerprint is refused.
        settings: The settings behind the fingerprint.

    Raises:
        IndexStoreError: redis-py is not installed, or the server cannot be
            reached (after retries) or fails.
        IndexMismatchError: The index was built with other settings.
        ConfigError: The URL is malformed.

    Example (needs a server)::

        with open_store("redis://localhost:6379/0?prefix=news", config.fingerprint(),
                        config.index_settings()) as store:
            Cleaner(config, store)...
    """

    name = "redis"

    def __init__(self, url: str, fingerprint: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(fingerprint, settings)
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise IndexStoreError(
                f"the redis index store ({public_url(url)}) needs the redis package: pip install 'dedup[redis]'"
            ) from exc
        self._redis = redis
        self.url = public_url(url)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefixes = [value for name, value in query if name == "prefix"]
        self.prefix = prefixes[-1] if prefixes else "dedup"
        if not self.prefix or any(c in self.prefix for c in "{}"):
            raise ConfigError(f"redis index {self.url}: the prefix must be non-empty, without braces, "
                              f"got {self.prefix!r}")
        client_url = urlunsplit(parts._replace(query=urlencode([(n, v) for n, v in query if n != "prefix"])))
        try:
            # No retries inside redis-py: this class retries, and knows which calls may have run.
            self._client = redis.Redis.from_url(
                client_url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, socket_timeout=60
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"redis index {self.url}: {exc}") from exc
        tag = "{" + self.prefix + "}"
        self._tag = tag.encode("utf-8")
        self._meta_key = self._tag + b":meta"
        self._check_meta(settings)
        self._retrying(self._load_scripts)  # later calls are EVALSHA: the script's hash, not its text

    # -- the three questions ----------------------------------------------------------------------

    def check_and_insert(
        self, namespace: str, keys: Sequence[int], sketch: bytes, ref: Ref, threshold: float
    ) -> Match | None:
        width = len(sketch)
        needed, clamp = agreement_bounds(width, threshold)
        ns = namespace.encode("utf-8", "surrogatepass")
        folded = BandIndex.fold(keys)
        fields = [struct.pack(">I", key) for key in folded]
        script_keys = [self._tag + b":bands:" + ns, self._tag + b":sketches:" + ns,
                       self._tag + b":refs:" + ns, self._tag + b":seq:" + ns]
        reply = self._run(
            _CHECK_AND_INSERT, script_keys,
            lambda retry: [bytes(sketch), _encode_ref(ref), needed, clamp, int(retry), *fields],
        )
        if not reply:
            return None
        found, agree = reply
        return Match(_decode_ref(found), _estimate(int(agree), width))

    def check_and_insert_exact(self, namespace: str, key: int, ref: Ref) -> Ref | None:
        ns = namespace.encode("utf-8", "surrogatepass")
        reply = self._run(
            _CHECK_AND_INSERT_EXACT, [self._tag + b":exact:" + ns],
            lambda retry: [_key64(key), _encode_ref(ref), int(retry)],
        )
        return None if not reply else _decode_ref(reply)

    def add_and_count(self, namespace: str, key: int, doc: str) -> int:
        ns = namespace.encode("utf-8", "surrogatepass")
        field = _key64(key)
        reply = self._run(
            _ADD_AND_COUNT, [self._tag + b":first:" + ns, self._tag + b":docs:" + ns + b":" + field],
            lambda retry: [field, doc.encode("utf-8", "surrogatepass")],
        )
        return int(reply)

    def close(self) -> None:
        """Release the connections (the index stays on the server)."""
        self._client.close()

    # -- internals ----------------------------------------------------------------------------------

    def _check_meta(self, settings: Mapping[str, Any] | None) -> None:
        settings_json = "" if settings is None else json.dumps(settings, sort_keys=True)
        found = self._run(_META, [self._meta_key], lambda retry: [LAYOUT_VERSION, self.fingerprint, settings_json])
        if not found:
            return
        version, fingerprint, stored_json = (None if v is None else v.decode("utf-8") for v in found)
        if version != str(LAYOUT_VERSION):
            raise IndexMismatchError(
                f"redis index {self.url}: key layout version {version}, this dedup uses {LAYOUT_VERSION}; "
                "use another prefix for a new index"
            )
        stored = json.loads(stored_json) if stored_json else None
        if fingerprint != self.fingerprint:
            raise IndexMismatchError(
                f"redis index {self.url}: " + mismatch_message(fingerprint or "", stored, self.fingerprint, settings)
            )
        self.settings = stored if stored is not None else self.settings

    def _load_scripts(self, retry: bool) -> None:
        for script in _SHA:
            self._client.script_load(script)

    def _run(self, script: str, keys: list[bytes], args: Callable[[bool], list[Any]]) -> Any:
        """Run ``script`` in one round trip, retrying transient failures.

        ``args(retry)`` builds the arguments; ``retry`` is true from the
        second try on, when the first may have run without its reply arriving.
        """
        return self._retrying(lambda retry: self._eval(script, keys, args(retry)))

    def _retrying(self, call: Callable[[bool], _T]) -> _T:
        """``call(retry)``, tried again after a transient failure, with exponential backoff."""
        errors = self._redis.exceptions
        attempt = 0
        while True:
            try:
                return call(attempt > 0)
            except (errors.AuthenticationError, errors.AuthorizationError) as exc:  # ConnectionErrors to redis-py
                raise IndexStoreError(
                    f"redis index {self.url}: the server refused the credentials ({exc}); check the URL's "
                    "user and password"
                ) from exc
            except (errors.ConnectionError, errors.TimeoutError) as exc:
                attempt += 1
                if attempt == TRIES:
                    raise IndexStoreError(
                        f"redis index {self.url}: the server did not answer after {TRIES} tries ({exc}); "
                        "check that it is running and reachable"
                    ) from exc
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            except errors.RedisError as exc:  # a script error or a refusal: trying again cannot help
                raise IndexStoreError(f"redis index {self.url}: the server refused the call ({exc})") from exc

    def _eval(self, script: str, keys: list[bytes], args: list[Any]) -> Any:
        try:
            return self._client.evalsha(_SHA[script], len(keys), *keys, *args)
        except self._redis.exceptions.NoScriptError:
            # A restarted or flushed server: EVAL runs the script and caches it again.
            return self._client.eval(script, len(keys), *keys, *args)


_SHA = {
    script: hashlib.sha1(script.encode("utf-8")).hexdigest()  # the name Redis gives a script
    for script in (_META, _CHECK_AND_INSERT, _CHECK_AND_INSERT_EXACT, _ADD_AND_COUNT)
}
