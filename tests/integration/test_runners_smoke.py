"""Smoke tests for the Beam runners that `make runners` builds under var/runners/.

Each test runs a tiny pipeline on a real runner (Flink in [local] mode, Prism, Spark local)
with the SDK workers in this process (LOOPBACK), so DoFns can leave evidence in files under
tmp_path that the test then reads. The shapes are the ones akhbar relies on: GroupByKey,
keyed state (ReadModifyWriteState and BagState), setup()/teardown() with a Shared object,
and, for streaming, PeriodicImpulse driving a keyed dedup. A missing runner artifact fails
the test with the make target to run: nothing here downloads anything.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.coders import BooleanCoder, StrUtf8Coder, VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import job_server
from apache_beam.runners.runner import PipelineState
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.utils import shared
from apache_beam.utils.timestamp import Timestamp

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUNNERS_DIR = REPO / "var" / "runners"
BEAM_VERSION = "2.70.0"
FLINK_JAR = RUNNERS_DIR / f"beam-flink-job-server-{BEAM_VERSION}.jar"
SPARK_JAR = RUNNERS_DIR / f"beam-spark-job-server-{BEAM_VERSION}.jar"
PRISM_BIN = RUNNERS_DIR / "prism"

# What each runner needs on the command line, and the make target that builds its artifact.
RUNNERS: dict[str, tuple[Path, str, list[str]]] = {
    "flink": (
        FLINK_JAR,
        "flink-jobserver",
        [
            "--runner=FlinkRunner",
            "--flink_master=[local]",
            f"--flink_job_server_jar={FLINK_JAR}",
            "--environment_type=LOOPBACK",
            "--parallelism=2",
        ],
    ),
    "prism": (
        PRISM_BIN,
        "prism",
        ["--runner=PrismRunner", f"--prism_location={PRISM_BIN}", "--environment_type=LOOPBACK"],
    ),
    "spark": (
        SPARK_JAR,
        "spark-jobserver",
        [
            "--runner=SparkRunner",
            "--spark_master_url=local[2]",
            f"--spark_job_server_jar={SPARK_JAR}",
            "--environment_type=LOOPBACK",
        ],
    ),
}

# The job servers are launched with `java` from PATH (Beam ignores JAVA_HOME for them); this
# picks another JDK, e.g. AKHBAR_JOB_SERVER_JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java.
JOB_SERVER_JAVA = os.environ.get("AKHBAR_JOB_SERVER_JAVA")

WORDS = ["سلام", "أخبار", "سلام", "خبر", "أخبار", "سلام", "سوق", "خبر"]


def runner_args(name: str) -> list[str]:
    assert beam.__version__ == BEAM_VERSION, f"apache-beam {beam.__version__} but runners built for {BEAM_VERSION}"
    artifact, target, args = RUNNERS[name]
    assert artifact.exists(), f"{artifact} is missing: run `make {target}` first"
    if JOB_SERVER_JAVA and name != "prism":
        return [*args, f"--job_server_java_launcher={JOB_SERVER_JAVA}"]
    return args


@pytest.fixture(autouse=True)
def stop_job_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stop every job server a test started when it ends, and let the SDK's threads settle.

    Beam stops job servers only when the Python process exits, so a test session would otherwise
    keep one idle JVM (about 700 MB) per Flink or Spark run. Prism's singleton server goes too:
    Beam's process cache keeps every server alive while any other is registered.
    """
    threads_before = set(threading.enumerate())
    started: list[job_server.StopOnExitJobServer] = []
    original_start = job_server.StopOnExitJobServer.start

    def start_and_remember(self: job_server.StopOnExitJobServer) -> str:
        started.append(self)
        return original_start(self)

    monkeypatch.setattr(job_server.StopOnExitJobServer, "start", start_and_remember)
    yield
    for server in started:
        server.stop()
    wait_for_threads_to_settle(threads_before)


def wait_for_threads_to_settle(threads_before: set[threading.Thread], quiet: float = 1.0, limit: float = 10.0) -> None:
    """Wait until no thread started since `threads_before` has come or gone for `quiet` seconds.

    Stopping a server makes the SDK's gRPC reader threads log tracebacks as they die. On CPython
    3.11, formatting a traceback runs ast.parse, which is not thread-safe: if pytest parses a
    module at the same moment (e.g. a lazy plugin import), it fails with "SystemError: AST
    constructor recursion depth mismatch". So those threads finish here, before the next step.
    """
    deadline = time.monotonic() + limit
    seen: frozenset[threading.Thread] = frozenset()
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        alive = frozenset(t for t in threading.enumerate() if t not in threads_before)
        if alive != seen:
            seen, quiet_since = alive, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            return
        time.sleep(0.1)


def read_lines(directory: Path, pattern: str = "*") -> list[str]:
    return sorted(line for path in directory.glob(pattern) for line in path.read_text().splitlines())


class AppendLine(beam.DoFn):
    """Appends each element to a file of its own per DoFn instance (LOOPBACK: same host)."""

    def __init__(self, directory: str, prefix: str):
        self._directory = directory
        self._prefix = prefix

    def setup(self) -> None:
        self._path = Path(self._directory) / f"{self._prefix}-{id(self)}-{threading.get_ident()}.txt"
        self._lock = threading.Lock()

    def process(self, element: Any) -> Iterator[Any]:
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(f"{element}\n")
        yield element


# State declared once at module level (ruff B008: no calls in argument defaults).
COUNT_PARAM = beam.DoFn.StateParam(ReadModifyWriteStateSpec("count", VarIntCoder()))
VALUES_PARAM = beam.DoFn.StateParam(BagStateSpec("values", StrUtf8Coder()))
SEEN_PARAM = beam.DoFn.StateParam(ReadModifyWriteStateSpec("seen", BooleanCoder()))


class CountPerKey(beam.DoFn):
    """Keyed state: a ReadModifyWriteState counter and a BagState of values must agree."""

    def process(
        self,
        element: tuple[str, str],
        count=COUNT_PARAM,
        values=VALUES_PARAM,
    ) -> Iterator[tuple[str, tuple[int, int]]]:
        key, value = element
        seen = (count.read() or 0) + 1
        count.write(seen)
        values.add(value)
        yield key, (seen, len(list(values.read())))


class FirstSightOnly(beam.DoFn):
    """The streaming dedup shape of issue 8: state only, no timers."""

    def process(self, element: tuple[str, int], seen=SEEN_PARAM) -> Iterator[str]:
        key, _ = element
        if not seen.read():
            seen.write(True)
            yield key


def run_batch(argv: list[str], out_dir: Path) -> None:
    with beam.Pipeline(options=PipelineOptions(argv)) as p:
        word_to_count = (
            p
            | "Words" >> beam.Create(WORDS)
            | "Strip" >> beam.Map(str.strip)
            | "PairWithOne" >> beam.Map(lambda w: (w, 1))
            | "GroupWords" >> beam.GroupByKey()
            | "Sum" >> beam.MapTuple(lambda w, ones: (w, sum(ones)))
        )
        letter_to_counts = (
            word_to_count
            | "KeyByFirstLetter" >> beam.MapTuple(lambda w, n: (w[0], f"{w}:{n}"))
            | "CountPerKey" >> beam.ParDo(CountPerKey())
            | "Max" >> beam.CombinePerKey(max)
        )
        expected = [("س", (2, 2)), ("أ", (1, 1)), ("خ", (1, 1))]
        assert_that(word_to_count, equal_to([("سلام", 3), ("أخبار", 2), ("خبر", 2), ("سوق", 1)]), "WordsOk")
        assert_that(letter_to_counts, equal_to(expected), "StateOk")
        _ = letter_to_counts | "Record" >> beam.ParDo(AppendLine(str(out_dir), "state"))


@pytest.mark.parametrize("runner", ["flink", "prism", "spark"])
def test_batch_groupbykey_and_keyed_state(runner: str, tmp_path: Path) -> None:
    started = time.monotonic()
    run_batch(runner_args(runner), tmp_path)
    expected = sorted(str(t) for t in [("س", (2, 2)), ("أ", (1, 1)), ("خ", (1, 1))])
    assert read_lines(tmp_path, "state-*") == expected
    print(f"{runner} batch: {time.monotonic() - started:.1f}s")


class ExpensiveModel:
    """Stands in for a model or client that must be built once per worker process."""

    def __init__(self, marker_dir: str):
        (Path(marker_dir) / f"built-{time.monotonic_ns()}").touch()
        self.suffix = "+model"


class UsesSharedModel(beam.DoFn):
    """setup() acquires a Shared model and opens a resource; teardown() closes it."""

    def __init__(self, handle: shared.Shared, marker_dir: str):
        self._handle = handle
        self._marker_dir = marker_dir
        self._model: ExpensiveModel | None = None

    def setup(self) -> None:
        marker_dir = self._marker_dir
        self._model = self._handle.acquire(lambda: ExpensiveModel(marker_dir))
        self._opened = Path(marker_dir) / f"setup-{id(self)}"
        self._opened.touch()

    def process(self, element: str) -> Iterator[str]:
        assert self._model is not None, "process() ran before setup()"
        yield element + self._model.suffix

    def teardown(self) -> None:
        self._opened.rename(self._opened.with_name(f"teardown-{id(self)}"))


@pytest.mark.parametrize("runner", ["flink", "prism", "spark"])
def test_setup_teardown_and_shared(runner: str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    handle = shared.Shared()
    with beam.Pipeline(options=PipelineOptions(runner_args(runner))) as p:
        tagged = (
            p
            | beam.Create([f"doc{i}" for i in range(20)])
            | "Fanout" >> beam.Reshuffle()
            | beam.ParDo(UsesSharedModel(handle, str(markers)))
        )
        assert_that(tagged, equal_to([f"doc{i}+model" for i in range(20)]))
    names = [p.name for p in markers.iterdir()]
    built = [n for n in names if n.startswith("built-")]
    # One worker process (LOOPBACK): however many DoFn instances, the model is built once.
    assert len(built) == 1, names
    assert any(n.startswith(("setup-", "teardown-")) for n in names), names
    if runner != "prism":
        # Flink and Spark close the SDK environment when the job ends, which tears DoFns down.
        # Prism keeps its LOOPBACK workers, so teardown() may never run there: it is best
        # effort in Beam, never the place to flush data (finish_bundle() is).
        deadline = time.monotonic() + 10
        while any(p.name.startswith("setup-") for p in markers.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.2)
        names = [p.name for p in markers.iterdir()]
        assert not any(n.startswith("setup-") for n in names), f"teardown() not called: {names}"
    print(f"{runner} lifecycle markers: {sorted(n.split('-')[0] for n in names)}")


def run_streaming(
    argv: list[str], out_dir: Path, stop_after: float | None
) -> tuple[beam.runners.runner.PipelineResult, Callable[[], list[str]]]:
    """PeriodicImpulse (4/s) -> key i % 3 -> first-sight dedup in state -> file; runs for
    `stop_after` seconds of event time, or until cancelled when it is None."""
    p = beam.Pipeline(options=PipelineOptions([*argv, "--streaming"]))
    start = Timestamp.now()  # never rely on PeriodicImpulse's default: evaluated at import time
    stop = start + stop_after if stop_after is not None else Timestamp.of(2**40)
    ticks = p | "Tick" >> PeriodicImpulse(start_timestamp=start, stop_timestamp=stop, fire_interval=0.25)
    _ = ticks | "RecordTicks" >> beam.ParDo(AppendLine(str(out_dir), "tick"))
    (
        ticks
        | "Number" >> beam.Map(lambda ts: int((ts - start.micros / 1e6) * 4))
        | "KeyByMod3" >> beam.Map(lambda i: (f"feed-{i % 3}", i))
        | "Dedup" >> beam.ParDo(FirstSightOnly())
        | "RecordNew" >> beam.ParDo(AppendLine(str(out_dir), "new"))
    )
    return p.run(), lambda: read_lines(out_dir, "new-*")


@pytest.mark.parametrize("runner", ["prism", "flink"])
def test_streaming_periodic_impulse_with_stop_finishes(runner: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result, new_keys = run_streaming(runner_args(runner), tmp_path, stop_after=3)
    state = result.wait_until_finish(duration=90_000)
    if state != PipelineState.DONE:
        result.cancel()
    assert state == PipelineState.DONE, f"still {state} 90 s after a 3 s impulse"
    assert new_keys() == ["feed-0", "feed-1", "feed-2"]
    assert len(read_lines(tmp_path, "tick-*")) >= 10
    print(f"{runner} streaming with stop: {time.monotonic() - started:.1f}s")


@pytest.mark.parametrize("runner", ["prism", "flink"])
def test_streaming_unbounded_is_cancelled(runner: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result, new_keys = run_streaming(runner_args(runner), tmp_path, stop_after=None)
    deadline = time.monotonic() + 90
    while len(new_keys()) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    state = result.wait_until_finish(duration=1_000)
    assert state == PipelineState.RUNNING, state
    result.cancel()
    assert new_keys() == ["feed-0", "feed-1", "feed-2"]
    assert result.state in (PipelineState.CANCELLING, PipelineState.CANCELLED), result.state
    print(f"{runner} streaming cancelled: {time.monotonic() - started:.1f}s")
