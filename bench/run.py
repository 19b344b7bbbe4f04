"""The akhbar benchmark: the whole batch pipeline against the raw Elasticsearch sink, each stage
alone on one core, the peers on the same texts, and how the cost grows from 1x to 4x.

Flow: build the 1x corpus (the shared corpus) and the 4x corpus (``multiply``: the corpus
plus three edited copies with new URLs, a third of them near duplicates) under
``var/bench/`` -> run ``akhbar batch`` as a child process on each, into a fresh alias, timing
it and sampling the RSS of its process tree -> read back what the 1x run indexed and
bulk-index the same ``_source`` straight with the client's helpers into another fresh alias
(the raw sink limit) -> the eval modules' one-core benchmarks and peers -> a per-stage CPU
profile of the pure functions -> ``bench/results.json`` and a table on stdout.

``python -m bench.run --help`` lists the knobs; ``make bench`` runs the defaults (the issue's
definition: the whole corpus, 4x). ``--equivalence`` instead runs the whole corpus on the
default runner and on Flink (and Spark with ``--spark``) and compares ids and clusters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import equivalence
from eval.dedup import EDITS, edit_article

REPO = Path(__file__).resolve().parents[1]
WORKDIR = REPO / "var" / "bench"
RESULTS = REPO / "bench" / "results.json"
TARGET_RATIO = 0.5  # pipeline articles/s over raw docs/s, at least
TARGET_SCALING = 4.5  # 4x time over 1x time, at most
MULTIPROCESS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


# --- corpora ------------------------------------------------------------------------------------


def load_rows(path: Path, fraction: float) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return rows[: max(1, round(len(rows) * fraction))]


def rewrite(row: dict[str, Any], copy: int) -> dict[str, Any]:
    """A new story of the same size and vocabulary: every third word swapped with another third word.

    Every 3-word shingle contains a swapped position, so the copy is no near duplicate, while
    the tokens, sentence lengths and entities the taggers see stay realistic.
    """
    import random

    rng = random.Random(f"{row['id']}:rewrite:{copy}")

    def shuffle(text: str) -> str:
        words = text.split(" ")
        positions = list(range(copy % 3, len(words), 3))
        chosen = [words[i] for i in positions]
        rng.shuffle(chosen)
        for i, word in zip(positions, chosen, strict=True):
            words[i] = word
        return " ".join(words)

    return {**row, "title": shuffle(row["title"] or ""), "body": shuffle(row["body"] or "")}


def variant(row: dict[str, Any], copy: int) -> dict[str, Any]:
    """Copy ``copy`` (1, 2, ...) of an article: a new URL and id, and either a near duplicate
    (one of ``eval.dedup.EDITS``: new lead, dropped paragraph, agency tag, respelling) for
    about a third of the articles, or a rewritten new story (``rewrite``). Deterministic."""
    key = zlib.crc32(f"{row['id']}:{copy}".encode())
    edited = edit_article(row, EDITS[key % len(EDITS)]) if key % 3 == 0 else rewrite(row, copy)
    url = row.get("url")
    return {
        **edited,
        "id": f"{row['id']}~copy{copy}",
        "url": f"{url.rstrip('/')}/copy-{copy}" if url else None,
    }


def multiply(rows: Sequence[dict[str, Any]], times: int) -> list[dict[str, Any]]:
    """The corpus ``times`` over: the originals, then ``times - 1`` rounds of ``variant`` copies."""
    return [*rows, *(variant(row, copy) for copy in range(1, times) for row in rows)]


# --- measuring a child process ------------------------------------------------------------------


def tree_rss_bytes(root: int) -> int:
    """RSS of ``root`` and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm", encoding="ascii") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def es_cpu_seconds(es_url: str) -> float | None:
    """CPU seconds the local Elasticsearch (``scripts/es.sh``'s, by its pid file) has used so far;
    None for a server this machine did not start."""
    port = urlsplit(es_url).port or 9200
    pid_file = REPO / "var" / "es" / f"run-{port}" / "es.pid"
    try:
        pid = int(pid_file.read_text().strip())
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def es_cpu_since(es_url: str, before: float | None) -> float | None:
    after = es_cpu_seconds(es_url)
    return None if before is None or after is None else round(after - before, 2)


def run_measured(command: list[str], log_path: Path, es_url: str) -> dict[str, Any]:
    """Run ``command``; wall seconds, CPU seconds and peak RSS of its process tree, the CPU seconds
    Elasticsearch spent meanwhile, load average before/after. CPU seconds barely depend on what
    else runs on the machine; wall seconds do."""
    load_before = os.getloadavg()
    es_before = es_cpu_seconds(es_url)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = 0
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss_bytes(child.pid))
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, _ = child.communicate()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    es_cpu = es_cpu_since(es_url, es_before)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({child.returncode}); see {log_path}")
    last = stdout.strip().splitlines()[-1]
    counts = dict(part.split("=") for part in last.split("[")[0].split())
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "es_cpu_seconds": es_cpu,
        "peak_rss_mb": round(peak / 2**20, 1),
        "summary": last,
        **{key.replace("-", "_"): int(value) for key, value in counts.items()},
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def pipeline_runs(
    corpus: Path, es_url: str, client: Any, label: str, extra: list[str], runs: int, keep_last: bool = False
) -> dict[str, Any]:
    """``runs`` runs of ``akhbar batch`` on ``corpus``, each into a fresh alias (deleted after,
    except the last one's when ``keep_last``: the raw-sink step reads it back)."""
    akhbar = str(Path(sys.executable).parent / "akhbar")
    results, alias = [], ""
    for attempt in range(runs):
        alias = f"bench-{label}-{uuid.uuid4().hex[:8]}"
        command = [
            akhbar,
            "batch",
            *equivalence.batch_argv([str(corpus)], alias, es_url, WORKDIR / "runs", "default"),
            *extra,
        ]
        print(f"  pipeline {label} run {attempt + 1}/{runs} ...", flush=True)
        result = run_measured(command, WORKDIR / "logs" / f"{alias}.log", es_url)
        result["articles_per_s"] = round(result["read"] / result["seconds"], 1)
        results.append(result)
        print(f"    {result['summary']}  {result['seconds']} s, peak {result['peak_rss_mb']} MB", flush=True)
        if not (keep_last and attempt == runs - 1):
            equivalence.delete_alias(client, alias)
    seconds = statistics.median(r["seconds"] for r in results)
    return {
        "args": extra,
        "runs": results,
        "median_seconds": round(seconds, 2),
        "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in results), 2),
        "median_es_cpu_seconds": median_or_none([r["es_cpu_seconds"] for r in results]),
        "articles": results[0]["read"],
        "articles_per_s": round(results[0]["read"] / seconds, 1),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "kept_alias": alias if keep_last else None,
    }


def median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


# --- the raw sink -------------------------------------------------------------------------------


def raw_sink(client: Any, source_alias: str, runs: int, es_url: str) -> dict[str, Any]:
    """The documents ``source_alias`` holds, bulk-indexed straight into fresh aliases created
    the same way (template ``akhbar-<alias>``): ``helpers.bulk`` and ``helpers.parallel_bulk``
    (2 threads), ``runs`` times each; the faster median is the sink limit."""
    from elasticsearch import helpers

    from transforms.elasticsearch import ensure_index

    logging.getLogger("transforms.elasticsearch").setLevel(logging.ERROR)  # the core-only analyzer note
    client.indices.refresh(index=source_alias)
    docs = [
        (hit["_id"], hit["_source"])
        for hit in helpers.scan(client, index=source_alias, query={"query": {"match_all": {}}}, size=1000)
    ]
    megabytes = sum(len(json.dumps(src, ensure_ascii=False).encode()) for _, src in docs) / 1e6

    def bulk(alias: str) -> None:
        actions = ({"_index": alias, "_id": doc_id, "_source": source} for doc_id, source in docs)
        ok, errors = helpers.bulk(client, actions, chunk_size=500, max_chunk_bytes=5 * 2**20, stats_only=True)
        if errors or ok != len(docs):
            raise RuntimeError(f"raw bulk: {ok} ok, {errors} errors")

    def parallel(alias: str) -> None:
        actions = ({"_index": alias, "_id": doc_id, "_source": source} for doc_id, source in docs)
        for ok, item in helpers.parallel_bulk(
            client, actions, thread_count=2, chunk_size=500, max_chunk_bytes=5 * 2**20
        ):
            if not ok:
                raise RuntimeError(f"raw parallel_bulk: {item}")

    result: dict[str, Any] = {"docs": len(docs), "megabytes": round(megabytes, 1)}
    for name, write in (("bulk", bulk), ("parallel_bulk", parallel)):
        timings, es_cpu, client_cpu = [], [], []
        for _ in range(runs):
            alias = f"bench-raw-{uuid.uuid4().hex[:8]}"
            ensure_index(client, alias)
            es_before, cpu_before = es_cpu_seconds(es_url), time.process_time()
            started = time.perf_counter()
            write(alias)
            client.indices.refresh(index=alias)
            timings.append(time.perf_counter() - started)
            client_cpu.append(time.process_time() - cpu_before)
            es_cpu.append(es_cpu_since(es_url, es_before))
            count = client.count(index=alias)["count"]
            equivalence.delete_alias(client, alias)
            if count != len(docs):
                raise RuntimeError(f"raw {name}: {count} documents indexed of {len(docs)}")
        median = statistics.median(timings)
        result[name] = {
            "seconds": [round(t, 2) for t in timings],
            "median_seconds": round(median, 2),
            "docs_per_s": round(len(docs) / median, 1),
            "median_es_cpu_seconds": median_or_none(es_cpu),
            "median_client_cpu_seconds": round(statistics.median(client_cpu), 2),
        }
    result["docs_per_s"] = max(result["bulk"]["docs_per_s"], result["parallel_bulk"]["docs_per_s"])
    return result


# --- stages and peers (one core, in this process) -------------------------------------------------


def stage_benchmarks(rows: Sequence[dict[str, Any]], sample: int, dedup_rows: Sequence[dict[str, Any]]) -> dict:
    from eval import dates, dedup, entities, normalize

    texts = [text for row in rows for text in (row.get("title") or "", row.get("body") or "")]
    bodies = [row["body"] for row in rows if (row.get("body") or "").strip()][:sample]
    print(f"  stages: normalize on {len(texts)} texts, dates/entities on {len(bodies)} bodies ...", flush=True)
    result = {
        "normalize": normalize.benchmark(texts, runs=3),
        "dates": dates.benchmark(bodies),
        "entities": {k: round(v, 2) if isinstance(v, float) else v for k, v in entities.benchmark(bodies).items()},
    }
    print(f"  stages: dedup (eval.dedup.benchmark) on {len(dedup_rows)} articles, 1x and 4x ...", flush=True)
    result["dedup"] = dedup.benchmark(dedup_rows)
    return result


def dedup_on_bench_corpora(one: Sequence[dict[str, Any]], four: Sequence[dict[str, Any]], runs: int) -> dict:
    """CPU seconds of ``eval.dedup.dedup_corpus`` on the same 1x and 4x corpora as the batch runs."""
    from eval.dedup import dedup_corpus
    from transforms.dedup import load_config

    config = load_config()
    result: dict[str, Any] = {}
    for name, rows in (("1x", one), ("4x", four)):
        timings, summary = [], {}
        for _ in range(runs):
            started = time.process_time()
            summary = dedup_corpus(rows, config)
            timings.append(time.process_time() - started)
        cpu = statistics.median(timings)
        result[name] = {
            "articles": len(rows),
            "cpu_seconds": round(cpu, 2),
            "articles_per_cpu_s": round(len(rows) / cpu, 1),
            **{k: summary[k] for k in ("exact_duplicates", "near_edges", "multi_article_clusters")},
        }
    result["cpu_ratio_4x_1x"] = round(result["4x"]["cpu_seconds"] / result["1x"]["cpu_seconds"], 2)
    return result


def date_peers(bodies: Sequence[str], published: Sequence[str | None]) -> dict[str, Any]:
    """dateparser's ``search_dates`` and ``tag_dates`` on the same texts, plus eval.dates' scores."""
    import datetime as dt

    from dateparser.search import search_dates

    from eval import dates
    from transforms.dates import tag_dates

    anchors = [dt.date.fromisoformat(p[:10]) if p else None for p in published]

    def ours() -> int:
        return sum(len(tag_dates(text, anchor)) for text, anchor in zip(bodies, anchors, strict=True))

    def theirs() -> int:
        found = 0
        for text, anchor in zip(bodies, anchors, strict=True):
            settings = {"RELATIVE_BASE": dt.datetime.combine(anchor, dt.time())} if anchor else {}
            try:
                found += len(search_dates(text, languages=["ar"], settings=settings) or [])
            except Exception:  # eval.dates counts a dateparser crash as a miss, so do we
                pass
        return found

    tokens = sum(len(text.split()) for text in bodies)
    result: dict[str, Any] = {"texts": len(bodies), "tokens": tokens}
    for name, system in (("akhbar", ours), ("dateparser", theirs)):
        wall, cpu = time.perf_counter(), time.process_time()
        found = system()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result[name] = {
            "seconds": round(wall, 2),
            "articles_per_s": round(len(bodies) / wall, 1),
            "tokens_per_s": round(tokens / wall),
            "articles_per_cpu_s": round(len(bodies) / cpu, 1),
            "expressions_found": found,
        }
    result["quality"] = dates.evaluate_all(with_dateparser=True)
    return result


def entity_peers(bodies: Sequence[str]) -> dict[str, Any]:
    """The gazetteer-only baseline and the CRF tagger on the same texts, plus eval.entities' scores."""
    from eval import entities
    from transforms.entities import EntityTagger
    from transforms.entities_features import sentences_of, tokenize

    tagger = EntityTagger.load()

    def gazetteer(text: str) -> int:
        found = 0
        for sentence in sentences_of(tokenize(text), text):
            found += sum(
                label.startswith("B-")
                for label in entities.gazetteer_labels(tagger.lexicon, [token.text for token in sentence])
            )
        return found

    tokens = sum(len(tokenize(text)) for text in bodies)
    result: dict[str, Any] = {"texts": len(bodies), "tokens": tokens}
    for name, system in (("crf+rules", lambda text: len(tagger.tag(text))), ("gazetteer", gazetteer)):
        wall, cpu = time.perf_counter(), time.process_time()
        found = sum(system(text) for text in bodies)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result[name] = {
            "seconds": round(wall, 2),
            "articles_per_s": round(len(bodies) / wall, 1),
            "tokens_per_s": round(tokens / wall),
            "tokens_per_cpu_s": round(tokens / cpu),
            "entities_found": found,
        }
    quality = entities.evaluate_all(tagger)
    result["quality_f1"] = {
        corpus: {
            system: round(scores["overall"]["f1"], 3) if "overall" in scores else scores
            for system, scores in systems.items()
        }
        for corpus, systems in quality.items()
    }
    return result


def stage_profile(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """CPU seconds per article of each pipeline step, run as plain functions on one core."""
    import datetime as dt

    from transforms.dates import date_ranges, tag_dates
    from transforms.dedup import content_hash, fingerprint, load_config
    from transforms.elasticsearch import article_to_document
    from transforms.entities import EntityTagger, facets
    from transforms.sources import parse_jsonl
    from transforms.stages import clean_article

    tagger = EntityTagger.load()
    config = load_config()
    spent: dict[str, float] = dict.fromkeys(
        ("parse", "clean", "dates", "entities", "dedup_fingerprint", "to_document_and_json"), 0.0
    )

    def timed(step: str, fn: Callable[[], Any]) -> Any:
        started = time.process_time()
        value = fn()
        spent[step] += time.process_time() - started
        return value

    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    articles = timed("parse", lambda: list(parse_jsonl(text, "bench", "2026-11-25T00:00:00+00:00")))
    count = 0
    for article in articles:
        if not hasattr(article, "body"):
            continue
        try:
            article = timed("clean", lambda a=article: clean_article(a))
        except ValueError:
            continue
        count += 1
        published = dt.date.fromisoformat(article.published_at[:10]) if article.published_at else None
        found = timed("dates", lambda a=article, p=published: [d for t in (a.title, a.body) for d in tag_dates(t, p)])
        mentions = timed("entities", lambda a=article: [e for t in (a.title, a.body) for e in tagger.tag(t)])
        article = article.with_(
            dates=tuple(found),
            entities=tuple(mentions),
            facets={**facets(mentions, f"{article.title}\n\n{article.body}"), "date_range": date_ranges(found)},
        )
        timed(
            "dedup_fingerprint", lambda a=article: (fingerprint(a.title, a.body, config), content_hash(a.title, a.body))
        )
        timed("to_document_and_json", lambda a=article: json.dumps(article_to_document(a), ensure_ascii=False))
    total = sum(spent.values())
    return {
        "articles": count,
        "cpu_seconds": {k: round(v, 2) for k, v in spent.items()},
        "share": {k: round(v / total, 3) for k, v in spent.items()},
        "ms_per_article": {k: round(1000 * v / count, 2) for k, v in spent.items()},
        "articles_per_cpu_s_all_steps": round(count / total, 1),
    }


def stage_timeline(corpus: Path, es_url: str, client: Any) -> dict[str, Any]:
    """Where the wall time of one run goes: ``pipelines.batch.run`` on ``corpus`` in this process,
    timed per fused stage of the in-process runner (``FnApiRunner._execute_bundle``: wall and CPU
    seconds of this process, and Elasticsearch's CPU seconds meanwhile), plus what comes before
    the first stage (index creation, building and translating the graph) and after the last."""
    import re

    from apache_beam.runners.portability.fn_api_runner import fn_runner

    alias = f"bench-timeline-{uuid.uuid4().hex[:8]}"
    argv = equivalence.batch_argv([str(corpus)], alias, es_url, WORKDIR / "runs", "default")
    stages: list[dict[str, Any]] = []
    original = fn_runner.FnApiRunner._execute_bundle

    def timed(self: Any, context: Any, bundle: Any, bundle_input: Any) -> Any:
        started, cpu, es_before = time.perf_counter(), time.process_time(), es_cpu_seconds(es_url)
        try:
            return original(self, context, bundle, bundle_input)
        finally:
            # A fused stage's name lists its transforms; keep the top-level steps, in order.
            steps = re.findall(r"(?:ref_AppliedPTransform_|\()([A-Z][A-Za-z]+)[-/]", bundle.stage.name)
            stages.append(
                {
                    "steps": "+".join(dict.fromkeys(steps)) or bundle.stage.name[:60],
                    "started_s": round(started - began, 2),
                    "wall_s": round(time.perf_counter() - started, 2),
                    "cpu_s": round(time.process_time() - cpu, 2),
                    "es_cpu_s": es_cpu_since(es_url, es_before),
                }
            )

    fn_runner.FnApiRunner._execute_bundle = timed  # type: ignore[method-assign,assignment]
    es_before, cpu_before, began = es_cpu_seconds(es_url), time.process_time(), time.perf_counter()
    try:
        summary, seconds = equivalence.timed_run(argv)
    finally:
        fn_runner.FnApiRunner._execute_bundle = original  # type: ignore[method-assign]
        equivalence.delete_alias(client, alias)
    in_stages = sum(stage["wall_s"] for stage in stages)
    first = stages[0]["started_s"] if stages else 0.0
    return {
        "summary": summary.line(),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(time.process_time() - cpu_before, 2),
        "es_cpu_seconds": es_cpu_since(es_url, es_before),
        "before_first_stage_s": first,
        "in_stages_s": round(in_stages, 2),
        "after_last_stage_s": round(seconds - first - in_stages, 2),
        "stages": sorted(stages, key=lambda stage: -stage["wall_s"]),
    }


PROFILE_BUCKETS = (  # (name, a function whose cumulative time is that part of the pipeline)
    ("entities (EntityTagger.tag)", "entities.py", "tag"),
    ("dates (tag_dates)", "dates.py", "tag_dates"),
    ("clean (clean_article)", "stages.py", "clean_article"),
    ("parse (parse_jsonl)", "sources.py", "parse_jsonl"),
    ("dedup fingerprint", "dedup.py", "fingerprint"),
    ("documents (article_to_document)", "elasticsearch.py", "article_to_document"),
    ("bulk writes (BulkWriter.write)", "elasticsearch.py", "write"),
)


def cprofile_pipeline(rows: Sequence[dict[str, Any]], es_url: str, client: Any) -> dict[str, Any]:
    """cProfile of ``pipelines.batch.run`` in this process (default runner: one in-process
    worker), the cumulative seconds of the functions in ``PROFILE_BUCKETS`` against the total."""
    import cProfile
    import pstats

    corpus = equivalence.write_slice(rows, WORKDIR / "corpus-profile.jsonl")
    alias = f"bench-profile-{uuid.uuid4().hex[:8]}"
    argv = equivalence.batch_argv([str(corpus)], alias, es_url, WORKDIR / "runs", "default")
    profiler = cProfile.Profile()
    started = time.perf_counter()
    try:
        summary = profiler.runcall(equivalence.timed_run, argv)[0]
    finally:
        equivalence.delete_alias(client, alias)
    seconds = time.perf_counter() - started
    profiler.dump_stats(str(WORKDIR / "pipeline.pstats"))
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cum, _) in stats.items():
        for name, file_suffix, wanted in PROFILE_BUCKETS:
            if function == wanted and filename.endswith(f"transforms/{file_suffix}"):
                cumulative[name] = max(cumulative.get(name, 0.0), cum)
    return {
        "articles": len(rows),
        "summary": summary.line(),
        "seconds": round(seconds, 2),
        "cumulative_seconds": {k: round(v, 2) for k, v in sorted(cumulative.items(), key=lambda kv: -kv[1])},
        "share_of_run": {k: round(v / seconds, 3) for k, v in sorted(cumulative.items(), key=lambda kv: -kv[1])},
        "pstats": str(WORKDIR / "pipeline.pstats"),
    }


# --- environment and report -----------------------------------------------------------------------


def environment(client: Any) -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_kb / 2**20, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "apache_beam": version("apache-beam"),
        "elasticsearch_client": version("elasticsearch"),
        "elasticsearch_server": client.cat.nodes(h="version", format="json")[0]["version"],
        "dateparser": version("dateparser"),
        "python_crfsuite": version("python-crfsuite"),
        "numpy": version("numpy"),
        "git_commit": commit,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    env, settings = results.get("environment", {}), results.get("settings", {})
    if "corpus" in results:
        rows.append(
            (
                "corpus, load average",
                f"{results['corpus'].get('1x')} articles (fraction {settings.get('fraction')} of the corpus), "
                f"load {env.get('load_average_at_start')} at start, {env.get('load_average_at_end')} at end",
            )
        )
    pipeline = results.get("pipeline", {})
    for key, name in (
        ("1x", "batch 1x, default runner"),
        ("1x_multiprocess", "batch 1x, 2 worker processes"),
        ("4x", "batch 4x, default runner"),
    ):
        if key in pipeline:
            p = pipeline[key]
            rows.append(
                (
                    name,
                    f"{p['articles_per_s']} articles/s ({p['articles']} in {p['median_seconds']} s, "
                    f"{p['median_cpu_seconds']} CPU s; Elasticsearch {p.get('median_es_cpu_seconds')} CPU s), "
                    f"peak RSS {p['peak_rss_mb']} MB",
                )
            )
    if raw := results.get("raw_sink"):
        rows.append(
            (
                "raw sink (same docs)",
                f"{raw['docs_per_s']} docs/s ({raw['docs']} docs; bulk "
                f"{raw['bulk']['docs_per_s']}, parallel_bulk "
                f"{raw['parallel_bulk']['docs_per_s']}; Elasticsearch "
                f"{raw['parallel_bulk'].get('median_es_cpu_seconds')} CPU s for parallel_bulk)",
            )
        )
    for key in ("end_to_end_over_raw_ratio", "end_to_end_over_raw_ratio_multiprocess"):
        if key in results:
            rows.append((key, f"{results[key]} (target >= {TARGET_RATIO})"))
    if "scaling_4x_over_1x" in results:
        rows.append(("scaling_4x_over_1x", f"{results['scaling_4x_over_1x']} (target <= {TARGET_SCALING})"))
    if "scaling_4x_over_1x_cpu" in results:
        rows.append(
            ("scaling_4x_over_1x_cpu", f"{results['scaling_4x_over_1x_cpu']} (CPU s of the pipeline processes)")
        )
    if "dedup_scaling_4x_over_1x" in results:
        rows.append(("dedup_scaling_4x_over_1x", f"{results['dedup_scaling_4x_over_1x']} (CPU s, same corpora)"))
    stages = results.get("stages", {})
    if n := stages.get("normalize"):
        rows.append(("fold / clean_text", f"{n['fold_mb_per_s']} / {n['clean_text_mb_per_s']} MB/s"))
    if d := stages.get("dates"):
        rows.append(("dates (tag_dates)", f"{d['articles_per_s']} articles/s, {d['tokens_per_s']} tokens/s"))
    if e := stages.get("entities"):
        rows.append(("entities (CRF)", f"{e['articles_per_second']} articles/s, {e['tokens_per_second']} tokens/s"))
    if m := stages.get("dedup"):
        rows.append(
            (
                "MinHash+LSH (eval.dedup)",
                f"{m['1x']['articles_per_cpu_second']} / "
                f"{m['4x']['articles_per_cpu_second']} articles/CPU s at 1x / 4x",
            )
        )
    peers = results.get("peers", {})
    if d := peers.get("dates"):
        rows.append(
            (
                "dates: akhbar vs dateparser",
                f"{d['akhbar']['articles_per_s']} vs {d['dateparser']['articles_per_s']} articles/s",
            )
        )
    if e := peers.get("entities"):
        rows.append(
            (
                "entities: CRF vs gazetteer",
                f"{e['crf+rules']['articles_per_s']} vs {e['gazetteer']['articles_per_s']} articles/s",
            )
        )
    if prof := results.get("profile"):
        top = sorted(prof["share"].items(), key=lambda kv: -kv[1])[:3]
        rows.append(("CPU share by step", ", ".join(f"{k} {v:.0%}" for k, v in top)))
    if timeline := results.get("timeline"):
        rows.append(
            (
                "1x timeline (wall s)",
                f"{timeline['before_first_stage_s']} before the first stage, {timeline['in_stages_s']} in "
                f"stages, {timeline['after_last_stage_s']} after; slowest: "
                + ", ".join(f"{st['steps'][:40]} {st['wall_s']}" for st in timeline["stages"][:3]),
            )
        )
    width = max(len(name) for name, _ in rows) if rows else 0
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def write(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# --- main -------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    started = time.perf_counter()
    rows = load_rows(Path(args.corpus), args.fraction)
    four = multiply(rows, args.times)
    corpus_1x = equivalence.write_slice(rows, WORKDIR / "corpus-1x.jsonl")
    corpus_4x = equivalence.write_slice(four, WORKDIR / f"corpus-{args.times}x.jsonl")
    results: dict[str, Any] = {
        "environment": environment(client),
        "settings": {
            "corpus": str(Path(args.corpus).resolve()),
            "fraction": args.fraction,
            "times": args.times,
            "pipeline_runs": args.pipeline_runs,
            "raw_runs": args.raw_runs,
            "stage_sample": args.sample,
            "peer_sample": args.peer_sample,
        },
        "corpus": {"1x": len(rows), f"{args.times}x": len(four)},
    }
    skip = set(args.skip)

    def save() -> None:
        results["duration_s"] = round(time.perf_counter() - started, 1)
        write(results, Path(args.out))

    print(f"corpus: {len(rows)} articles (1x), {len(four)} ({args.times}x)", flush=True)
    pipeline: dict[str, Any] = {}
    results["pipeline"] = pipeline
    one = pipeline_runs(corpus_1x, args.es_url, client, "1x", [], args.pipeline_runs, keep_last=True)
    pipeline["1x"] = one
    try:
        print("  raw sink ...", flush=True)
        results["raw_sink"] = raw_sink(client, one["kept_alias"], args.raw_runs, args.es_url)
    finally:
        equivalence.delete_alias(client, one["kept_alias"])
    results["end_to_end_over_raw_ratio"] = round(one["articles_per_s"] / results["raw_sink"]["docs_per_s"], 3)
    save()
    if "multiprocess" not in skip:
        pipeline["1x_multiprocess"] = pipeline_runs(
            corpus_1x, args.es_url, client, "1x-mp", MULTIPROCESS, args.pipeline_runs
        )
        results["end_to_end_over_raw_ratio_multiprocess"] = round(
            pipeline["1x_multiprocess"]["articles_per_s"] / results["raw_sink"]["docs_per_s"], 3
        )
        save()
    if "4x" not in skip:
        pipeline["4x"] = pipeline_runs(corpus_4x, args.es_url, client, f"{args.times}x", [], args.pipeline_runs)
        results["scaling_4x_over_1x"] = round(pipeline["4x"]["median_seconds"] / one["median_seconds"], 2)
        results["scaling_4x_over_1x_cpu"] = round(pipeline["4x"]["median_cpu_seconds"] / one["median_cpu_seconds"], 2)
        save()
    if "stages" not in skip:
        results["dedup_on_bench_corpora"] = dedup_on_bench_corpora(rows, four, runs=2)
        results["dedup_scaling_4x_over_1x"] = results["dedup_on_bench_corpora"]["cpu_ratio_4x_1x"]
        results["stages"] = stage_benchmarks(rows, args.sample, rows)
        save()
    if "peers" not in skip:
        peer_rows = [row for row in rows if (row.get("body") or "").strip()][: args.peer_sample]
        bodies = [row["body"] for row in peer_rows]
        print(f"  peers on {len(bodies)} bodies ...", flush=True)
        results["peers"] = {
            "dates": date_peers(bodies, [row.get("published") for row in peer_rows]),
            "entities": entity_peers(bodies),
        }
        save()
    if "profile" not in skip:
        print(f"  per-step CPU profile on {args.sample} articles ...", flush=True)
        results["profile"] = stage_profile(rows[: args.sample])
        save()
    if "timeline" not in skip:
        print("  stage timeline of one more 1x run, in this process ...", flush=True)
        results["timeline"] = stage_timeline(corpus_1x, args.es_url, client)
    results["targets"] = {
        "end_to_end_over_raw_ratio": {"at_least": TARGET_RATIO, "met": results["end_to_end_over_raw_ratio"] >= 0.5},
    }
    if "scaling_4x_over_1x" in results:
        results["targets"]["scaling_4x_over_1x"] = {
            "at_most": TARGET_SCALING,
            "met": results["scaling_4x_over_1x"] <= TARGET_SCALING,
        }
    results["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save()
    return results


def equivalence_check(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """The whole corpus on the default runner and on Flink (and Spark): same ids, same clusters?"""
    runners = ["default", "flink", *(["spark"] if args.spark else [])]
    out: dict[str, Any] = {"environment": environment(client), "corpus": str(Path(args.corpus).resolve())}
    clusters: dict[str, equivalence.Clusters] = {}
    for runner in runners:
        alias = f"bench-eq-{runner}-{uuid.uuid4().hex[:8]}"
        argv = equivalence.batch_argv([str(Path(args.corpus).resolve())], alias, args.es_url, WORKDIR / "eq", runner)
        print(f"  {runner} ...", flush=True)
        try:
            summary, seconds = equivalence.timed_run(argv)
            clusters[runner] = equivalence.indexed_clusters(client, alias)
        finally:
            equivalence.delete_alias(client, alias)
        out[runner] = {
            "seconds": round(seconds, 1),
            "summary": summary.line(),
            "balanced": summary.balanced,
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
        print(f"    {summary.line()}  {seconds:.1f} s", flush=True)
    for runner in runners[1:]:
        out[f"default_vs_{runner}"] = equivalence.compare(clusters["default"], clusters[runner])
    write(out, Path(args.out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--es-url",
        default=os.environ.get("AKHBAR_ES_URL", "http://127.0.0.1:9200"),
        help="Elasticsearch to benchmark against (fresh aliases bench-*, deleted after).",
    )
    parser.add_argument("--corpus", default=str(equivalence.CORPUS), help="articles as JSON Lines (the 1x corpus).")
    parser.add_argument(
        "--fraction",
        type=float,
        default=1.0,
        help="use the first FRACTION of the corpus (quick runs; the default 1 is the benchmark).",
    )
    parser.add_argument("--times", type=int, default=4, help="size of the scaled corpus, in corpus copies.")
    parser.add_argument("--pipeline-runs", type=int, default=3, help="runs of each pipeline variant (median).")
    parser.add_argument("--raw-runs", type=int, default=3, help="runs of each raw bulk helper (median).")
    parser.add_argument("--sample", type=int, default=1000, help="articles for the one-core stage benchmarks.")
    parser.add_argument("--peer-sample", type=int, default=200, help="article bodies for the peer comparison.")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["multiprocess", "4x", "stages", "peers", "profile", "timeline"],
        help="parts to leave out.",
    )
    parser.add_argument("--out", default=None, help="results file (default bench/results.json).")
    parser.add_argument(
        "--equivalence",
        action="store_true",
        help="instead: whole corpus on the default runner and Flink, compare ids and clusters.",
    )
    parser.add_argument("--spark", action="store_true", help="with --equivalence: also Spark.")
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="instead: cProfile the pipeline on the first N articles (default runner, in process).",
    )
    args = parser.parse_args(argv)
    if not args.out:
        args.out = str(
            WORKDIR / "equivalence.json"
            if args.equivalence
            else WORKDIR / "cprofile.json"
            if args.cprofile
            else RESULTS
        )
    WORKDIR.mkdir(parents=True, exist_ok=True)

    from transforms.elasticsearch import EsConfig, make_client

    client = make_client(EsConfig(url=args.es_url, request_timeout=120))
    try:
        if args.cprofile:
            out = cprofile_pipeline(load_rows(Path(args.corpus), 1.0)[: args.cprofile], args.es_url, client)
            write(out, Path(args.out))
            print(json.dumps(out, ensure_ascii=False, indent=2))
            return 0
        if args.equivalence:
            out = equivalence_check(args, client)
            print(json.dumps({k: v for k, v in out.items() if k != "environment"}, ensure_ascii=False, indent=2))
            return 0
        results = bench(args, client)
    finally:
        client.close()
    print(f"\nakhbar benchmark ({results['duration_s']} s; {args.out})")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
