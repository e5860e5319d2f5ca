"""Fixtures shared by the test modules."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner, Result

from dedup.cli import cli

SEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "seeds"

#: Summary fields that differ between two runs with the same results: how long the run took, where it ran,
#: and the configuration file it was given.
UNSTABLE_SUMMARY_FIELDS = ("timing", "engine", "config_file")


def require_data(find: Callable[[], Path], what: str) -> None:
    """Skip a test whose development data is missing; fail it instead when ``CI`` is set.

    Args:
        find: The data finder (it raises FileNotFoundError naming the paths tried).
        what: What the data is, for the message ("BBC data").
    """
    try:
        find()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the quality gate needs the {what} in CI: {exc}")
        pytest.skip(str(exc))


def require_module(name: str, install: str = 'pip install -e ".[test,ray]"') -> Any:
    """Import a module a test needs; skip the test when it is missing, or fail it when ``CI`` is set.

    CI installs every test dependency (``.ci/run``), so a missing one there is
    a broken setup, not a reason to skip the Ray or object-storage tests.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing ({exc}); CI must run the tests that need it: {install}")
        pytest.skip(f"needs {name} ({install})")


def stable_summary(summary: dict[str, Any] | bytes | str) -> dict[str, Any]:
    """A ``--summary`` (parsed, or its JSON text) without :data:`UNSTABLE_SUMMARY_FIELDS`: what must be equal
    between two runs, or two engines, that give the same results."""
    data = json.loads(summary) if isinstance(summary, bytes | str) else dict(summary)
    return {key: value for key, value in data.items() if key not in UNSTABLE_SUMMARY_FIELDS}


def stable_stderr(stderr: str) -> str:
    """What ``dedup clean`` wrote to stderr without its timing line, which differs from run to run."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith("dedup: time "))


def _open_write(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    if path.name.endswith(".zst"):
        return zstandard.open(path, "wt", encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def _open_read(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    if path.name.endswith(".zst"):
        return zstandard.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _write_jsonl(path: Path, records: Iterable[Any]) -> Path:
    """Write ``records`` one per line (compressed by suffix); a ``str`` is written as the raw line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_write(path) as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (compressed by suffix)."""
    with _open_read(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture
def seeds_dir() -> Path:
    """The directory of seed documents: real scraped pages with known clean results."""
    return SEEDS


@pytest.fixture
def write_jsonl() -> Callable[[Path, Iterable[Any]], Path]:
    """``write_jsonl(path, records)``: write a JSONL input file and return its path."""
    return _write_jsonl


@pytest.fixture
def read_jsonl() -> Callable[[Path], list[dict[str, Any]]]:
    """``read_jsonl(path)``: the records of a JSONL output or report."""
    return _read_jsonl


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(runner: CliRunner) -> Callable[..., Result]:
    """``run(*args, input=None)``: invoke ``dedup`` in-process.

    Exceptions other than a clean exit propagate, so a crash can never pass
    for an expected exit code 1.
    """

    def invoke(*args: str | Path, input: str | bytes | None = None) -> Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, prog_name="dedup", catch_exceptions=False)

    return invoke


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a redis-server started for this test session.

    The server keeps nothing on disk (``--save "" --appendonly no``) and
    is stopped at the end. Without ``redis-server`` (Debian package
    ``redis-server``) or the ``redis`` Python package the tests that use it
    are skipped, unless the ``CI`` environment variable is set: then they fail.
    """
    server = shutil.which("redis-server")
    missing = "redis-server is not installed (apt-get install redis-server)" if server is None else None
    try:
        import redis  # noqa: F401 - only whether the client is there
    except ImportError:
        missing = missing or "the redis package is not installed (pip install 'dedup[redis]')"
    if missing is not None or server is None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the Redis store tests")
        pytest.skip(missing or "")
    directory = tmp_path_factory.mktemp("redis")
    for _ in range(3):  # the free port may be taken before the server binds it
        port = _free_port()
        log = open(directory / "redis.log", "wb")  # noqa: SIM115 - closed with the server below
        process = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(directory)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline and not _answers_ping(port):
            time.sleep(0.05)
        if process.poll() is None and _answers_ping(port):
            break
        process.kill()
        process.wait()
        log.close()
    else:
        pytest.fail(f"redis-server did not start; see {directory / 'redis.log'}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class FifoReader:
    """A FIFO at ``path`` and a thread that reads it to the end, as a consumer of the output would."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.data = b""
        self._thread = threading.Thread(target=self._read, daemon=True)  # daemon: a failed test must not hang
        self._thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as fifo:
            self.data = fifo.read()

    def result(self) -> bytes:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the FIFO was not written and closed"
        return self.data


@pytest.fixture
def fifo_reader() -> Callable[[Path], FifoReader]:
    """``fifo_reader(path)``: make a FIFO at ``path`` with a thread reading it to the end."""
    return FifoReader


@pytest.fixture(scope="session")
def screenshot_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: ``DEDUP_SCREENSHOTS``, or a directory under pytest's
    temporary path (printed, so that a CI job can keep them as artifacts)."""
    configured = os.environ.get("DEDUP_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"browser screenshots: {directory}")
    return directory


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium driven by Selenium through chromedriver, for the HTML report's tests.

    It uses the browser and driver installed on the machine (Debian packages
    ``chromium`` and ``chromium-driver``): nothing is downloaded. Without
    them, or without the ``selenium`` package, the tests that use it are
    skipped, unless the ``CI`` environment variable is set: then they fail.
    The browser's console is recorded (``driver.get_log("browser")``).
    """
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    chromedriver = shutil.which("chromedriver")
    missing = None
    if chromium is None or chromedriver is None:
        missing = "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing = missing or "the selenium package is not installed (pip install 'dedup[test]')"
    if missing is not None or chromium is None or chromedriver is None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the HTML report's browser tests")
        pytest.skip(missing or "")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def _patch_moto_multipart_result() -> None:
    """Name moto's CompleteMultipartUpload answer as S3 does (``CompleteMultipartUploadResult``).

    moto 5.2 answers ``<CompleteMultipartUploadResponse>``, which the AWS SDK
    under pyarrow takes for an error embedded in a 200 answer (and retries,
    then fails): every upload pyarrow makes in parts would fail against
    moto, though it works against S3.
    """
    from moto.s3.responses import S3Response

    if getattr(S3Response.serialized, "dedup_patched", False):
        return
    serialized = S3Response.serialized

    def named_as_s3(self: Any, result: Any) -> Any:
        status, headers, body = serialized(self, result)
        if self.data.get("Action") == "CompleteMultipartUpload" and isinstance(body, str | bytes):
            old, new = "CompleteMultipartUploadResponse", "CompleteMultipartUploadResult"
            body = body.replace(old, new) if isinstance(body, str) else body.replace(old.encode(), new.encode())
        return status, headers, body

    named_as_s3.dedup_patched = True  # type: ignore[attr-defined]
    S3Response.serialized = named_as_s3  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of an S3-protocol server (moto's) started for this test session.

    The standard AWS variables point every S3 client of the session at it,
    pyarrow's included (``AWS_ENDPOINT_URL``), with test credentials; no
    file of the user's AWS configuration is read. Workers of a Ray started
    after it inherit them, as a cluster's workers have their own.
    """
    require_module("pyarrow.fs")
    server_module = require_module("moto.server")
    _patch_moto_multipart_result()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def local_ray(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Ray on this machine with 2 CPUs, shared by every test of the session that runs the Ray engine.

    The S3-protocol server starts first when moto is installed, so that the
    workers see its endpoint and credentials in their environment.
    """
    ray = require_module("ray")
    require_module("ray.data")
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pass
    else:
        request.getfixturevalue("s3_endpoint")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()
