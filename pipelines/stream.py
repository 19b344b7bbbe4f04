"""The streaming pipeline: feeds polled without end -> the same stages as batch -> Elasticsearch.

    akhbar stream --feeds FILE [--index NAME] [--es-url URL] [--health-index NAME] [beam options]

ReadFeeds (``transforms.feed_source``: ticks, polls keyed by host, new items keyed by item)
-> fixed windows of ``--window`` seconds (the shared dedup stages group by key, which an
unbounded PCollection needs windows for) -> ``pipelines.batch.process_and_index``; the
feed-health documents go to ``--health-index``.

Without ``--runner`` the job runs on Prism (``var/runners/prism``, built by ``make runners``),
started here in its own process group so that a terminal's Ctrl-C reaches only akhbar, with
the SDK worker in this process (LOOPBACK). SIGINT/SIGTERM write the stop file: the source
stops polling, every open window fires, the job drains to DONE and the process exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.window import FixedWindows

from pipelines.batch import prepare, process_and_index
from pipelines.options import AkhbarOptions, RunConfig, load_run_config
from pipelines.summary import RunSummary, summarize
from transforms.elasticsearch import make_client
from transforms.feed_source import ReadFeeds, WriteFeedHealth, ensure_health_index
from transforms.feeds import FeedsConfig, load_feeds

log = logging.getLogger("akhbar.stream")

REPO = Path(__file__).resolve().parents[1]
BATCH_ONLY = ("input", "resume")  # AkhbarOptions flags that mean nothing to a stream
PRISM = REPO / "var" / "runners" / "prism"


class StreamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--feeds", default=None, help="YAML feeds file (see config/feeds.yaml). Required.")
        parser.add_argument(
            "--health-index",
            "--health_index",
            dest="health_index",
            default="akhbar-feed-health",
            help="Index for the feed-health documents, one per poll (default: akhbar-feed-health).",
        )
        parser.add_argument(
            "--window",
            dest="window_s",
            type=float,
            default=1.0,
            help="Seconds per window before the shared stages; bounds the added latency (default: 1).",
        )
        parser.add_argument(
            "--stop-file",
            "--stop_file",
            dest="stop_file",
            default=None,
            help="Path whose creation stops the stream (default: var/stream/<run>/STOP; SIGTERM creates it).",
        )
        parser.add_argument(
            "--drain-timeout",
            "--drain_timeout",
            dest="drain_timeout",
            type=float,
            default=25.0,
            help="Seconds to wait for in-flight work after a stop request before giving up (default: 25).",
        )


def build(p: beam.Pipeline, cfg: RunConfig, feeds: FeedsConfig, opts: StreamOptions, run_dir: str, stop: str) -> None:
    read = p | "ReadFeeds" >> ReadFeeds(feeds, stop)
    articles = read["articles"] | "WindowArticles" >> beam.WindowInto(FixedWindows(opts.window_s))
    dead = read["dead"] | "WindowDeadInputs" >> beam.WindowInto(FixedWindows(opts.window_s))
    process_and_index(articles, dead, cfg, run_dir)
    _ = read["health"] | "FeedHealth" >> WriteFeedHealth(cfg.es.url, opts.health_index)


class StreamResult:
    """How a stream ended: the job's final state, and the run summary from its counters."""

    def __init__(self, state: str, summary: RunSummary, stopped_after: float | None) -> None:
        self.state = state
        self.summary = summary
        self.stopped_after = stopped_after  # seconds from the stop request to the end of the job

    @property
    def drained(self) -> bool:
        return self.state == PipelineState.DONE


def run(argv: list[str] | None = None, stop: threading.Event | None = None) -> StreamResult:
    """Run until ``stop`` is set (or the stop file appears), then drain; the CLI and tests call this."""
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True
    opts = options.view_as(StreamOptions)
    if not opts.feeds:
        raise SystemExit("akhbar stream: give --feeds FILE")
    feeds = load_feeds(opts.feeds)
    cfg = load_run_config(options)
    if cfg.inputs or cfg.resume:
        raise SystemExit("akhbar stream: --input and --resume belong to `akhbar batch`; streams read --feeds")
    prepare(cfg)
    client = make_client(cfg.es)
    try:
        ensure_health_index(client, opts.health_index)
    finally:
        client.close()
    run_dir = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    stop_path = opts.stop_file or str(REPO / "var" / "stream" / run_dir / "STOP")
    if "://" not in stop_path:
        os.makedirs(os.path.dirname(os.path.abspath(stop_path)), exist_ok=True)
    if FileSystems.exists(stop_path):
        FileSystems.delete([stop_path])
    stop = stop or threading.Event()

    pipeline = beam.Pipeline(options=options)
    build(pipeline, cfg, feeds, opts, run_dir, stop_path)
    result = pipeline.run()
    log.info(
        "streaming %d feeds from %d hosts into %s; stop file %s",
        len(feeds.feeds),
        len(feeds.by_host()),
        cfg.es.alias,
        stop_path,
    )
    finished = threading.Event()
    failure: list[BaseException] = []

    def wait() -> None:
        try:
            result.wait_until_finish()
        except BaseException as err:  # reported by the main thread
            failure.append(err)
        finally:
            finished.set()

    threading.Thread(target=wait, name="akhbar-stream-wait", daemon=True).start()
    while not finished.wait(0.2):
        if stop.is_set():
            break
    stopped_after = None
    if not finished.is_set():
        requested = time.monotonic()
        with FileSystems.create(stop_path) as handle:
            handle.write(b"stop\n")
        log.warning("stop requested: polling stops, in-flight items drain (up to %.0fs)", opts.drain_timeout)
        if not finished.wait(opts.drain_timeout):
            log.error("the job did not drain within %.0fs: cancelling it", opts.drain_timeout)
            result.cancel()
            finished.wait(5)
        stopped_after = time.monotonic() - requested
    if failure:
        raise failure[0]
    log.info("job %s%s", result.state, f", {stopped_after:.1f} s after the stop request" if stopped_after else "")
    summary = summarize(result)
    log.info("counters: %s", dict(sorted(summary.counters.items())))
    client = make_client(cfg.es)
    try:
        client.indices.refresh(index=cfg.es.alias)
    finally:
        client.close()
    return StreamResult(str(result.state), summary, stopped_after)


# ---------------------------------------------------------------------------------------------
# The command


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_prism(binary: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Prism as a job server in its own session (a terminal's Ctrl-C must not kill it mid-drain)."""
    port = _free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            # If akhbar dies without stopping it (SIGKILL), prism ends itself once idle.
            [
                str(binary),
                "--job_port",
                str(port),
                "--serve_http=false",
                "--log_level=warn",
                "--idle_shutdown_timeout=120s",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"akhbar stream: prism exited at start (code {process.returncode}); see {log_path}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"localhost:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"akhbar stream: prism did not listen on port {port} within 30 s; see {log_path}")


def stop_prism(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _help() -> None:
    parser = argparse.ArgumentParser(
        prog="akhbar stream",
        description="Poll RSS/Atom feeds without end and index new articles (Beam streaming pipeline).",
        epilog=f"Beam pipeline options pass through. Without --runner: Prism from {PRISM} with LOOPBACK.",
    )
    StreamOptions._add_argparse_args(parser)
    AkhbarOptions._add_argparse_args(parser)
    for action in parser._actions:
        if action.dest in BATCH_ONLY:
            action.help = argparse.SUPPRESS
    parser.print_help()


def main(argv: list[str]) -> int:
    if any(flag in ("-h", "--help") for flag in argv):
        _help()
        return 0
    logging.getLogger("akhbar").setLevel(logging.INFO)
    prism = None
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in argv):
        if not PRISM.exists():
            print(f"akhbar stream: {PRISM} is missing: run `make runners` or pass --runner", file=sys.stderr)
            return 2
        prism, endpoint = start_prism(PRISM, REPO / "var" / "stream" / "prism.log")
        argv = [*argv, "--runner=PortableRunner", f"--job_endpoint={endpoint}", "--environment_type=LOOPBACK"]
    stop = threading.Event()

    def request_stop(signum: int, _: Any) -> None:
        if stop.is_set():  # a second signal: give up the drain
            raise KeyboardInterrupt
        log.warning("%s received: draining; send it again to stop at once", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = run(argv, stop)
    except KeyboardInterrupt:
        print("akhbar stream: stopped without draining: in-flight items may be lost", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if prism is not None:
            stop_prism(prism)
    print(outcome.summary.render())
    if not outcome.drained:
        print(
            f"akhbar stream: the job ended {outcome.state} without draining: in-flight items may be lost",
            file=sys.stderr,
        )
        return 1
    if outcome.stopped_after is not None:
        print(f"akhbar stream: stopped and drained in {outcome.stopped_after:.1f} s")
    if outcome.summary.pending:
        print(
            f"akhbar stream: {outcome.summary.pending} documents were written to the pending folder "
            "(Elasticsearch unreachable); index them with `akhbar batch --resume`",
            file=sys.stderr,
        )
    return 0 if outcome.summary.ok else 1
