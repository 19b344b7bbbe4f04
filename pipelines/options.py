"""Run-time switches of the akhbar pipelines (one ``PipelineOptions`` subclass) and the run config.

Flags are the CLI contract (``--input``, ``--index``, ``--es-url``, ``--config``); Beam's own
options (``--runner``, ``--flink_master``...) pass through untouched. Domain settings (batch
sizes, retry budget, dedup thresholds) come from a YAML file given with ``--config``;
endpoints and secrets may come from the environment (``AKHBAR_ES_URL``, see
``transforms.elasticsearch.make_client``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.elasticsearch import EsConfig

DEFAULT_ES_URL = "http://127.0.0.1:9200"


class AkhbarOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument(
            "--input",
            dest="input",
            nargs="+",
            action="extend",
            default=[],
            help="Seed text files, JSON Lines article files or RSS/Atom feeds: paths, globs or http(s) URLs.",
        )
        parser.add_argument("--index", default="akhbar", help="Index alias to write to and search (default: akhbar).")
        parser.add_argument(
            "--es-url",
            "--es_url",
            dest="es_url",
            default=None,
            help=f"Elasticsearch URL (default: $AKHBAR_ES_URL or {DEFAULT_ES_URL}).",
        )
        parser.add_argument(
            "--config", dest="akhbar_config", default=None, help="YAML run config (see config/run.yaml)."
        )
        parser.add_argument(
            "--deadletter-dir",
            "--deadletter_dir",
            dest="deadletter_dir",
            default="var/deadletter",
            help="Folder for dead-letter JSON Lines files (one sub-folder per run).",
        )
        parser.add_argument(
            "--pending-dir",
            "--pending_dir",
            dest="pending_dir",
            default="var/pending",
            help="Folder for documents not written because Elasticsearch stayed down (see --resume).",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            default=False,
            help="Also index the documents left in --pending-dir by earlier runs.",
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs besides Beam's own options."""

    es: EsConfig
    inputs: tuple[str, ...]
    deadletter_dir: str
    pending_dir: str
    resume: bool
    dedup: dict[str, Any]


class _LoopbackGrpc:
    """The ``grpc`` module as Beam's worker handlers see it, with servers bound to 127.0.0.1.

    Beam 2.70 (pinned) opens the FnApiRunner's servers, and a log server per worker process,
    with ``add_insecure_port('[::]:0')``, every interface, and gives the worker processes
    ``localhost:<port>``; akhbar's servers listen on loopback only. Everything but ``server``
    is the module itself.
    """

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def server(self, *args: Any, **kwargs: Any) -> Any:
        server = self._module.server(*args, **kwargs)
        add_port = server.add_insecure_port
        server.add_insecure_port = lambda address: add_port(address.replace("[::]", "127.0.0.1", 1))
        return server


def local_runner(options: PipelineOptions) -> Any:
    """The runner for ``options``: Beam's in-process engine when none (or DirectRunner) is named.

    Beam 2.70's DirectRunner first tries Prism and, with no ``--prism_location``, downloads it
    from GitHub at run time; akhbar never downloads anything while running, so it runs the
    engine the DirectRunner falls back to (the FnApiRunner, which honours
    ``--direct_num_workers`` and ``--direct_running_mode``) directly. Any other ``--runner``
    (PrismRunner, FlinkRunner, SparkRunner, DataflowRunner) is used as given.

    The default stays one in-process worker: worker processes
    (``--direct_num_workers=N --direct_running_mode=multi_processing``) cost 14 to 47% more CPU
    per article and 2.7 times the memory (docs/bench.md, "Runner and memory"). When they are
    asked for, Beam's control, data, state and logging servers listen on 127.0.0.1 only
    (``_LoopbackGrpc``), not on every interface as Beam opens them.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    name = options.view_as(StandardOptions).runner
    if name not in (None, "DirectRunner", "direct"):
        return None  # beam.Pipeline builds the named runner itself
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    for module in (worker_handlers, local_job_service):  # runner servers; each worker's log server
        if not isinstance(module.grpc, _LoopbackGrpc):  # type: ignore[attr-defined]
            module.grpc = _LoopbackGrpc(module.grpc)  # type: ignore[attr-defined]
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=provision)


def es_url(flag: str | None) -> str:
    return flag or os.environ.get("AKHBAR_ES_URL") or DEFAULT_ES_URL


def load_run_config(options: PipelineOptions) -> RunConfig:
    """Flags over the ``--config`` YAML over defaults; unknown YAML keys are errors."""
    opts = options.view_as(AkhbarOptions)
    data: dict[str, Any] = {}
    if opts.akhbar_config:
        data = yaml.safe_load(Path(opts.akhbar_config).read_text(encoding="utf-8")) or {}
        unknown = set(data) - {"elasticsearch", "dedup"}
        if unknown:
            raise ValueError(f"{opts.akhbar_config}: unknown sections {sorted(unknown)}")
    es_section = dict(data.get("elasticsearch") or {})
    allowed = {f.name for f in fields(EsConfig)} - {"url", "alias"}
    if unknown_keys := set(es_section) - allowed:
        raise ValueError(f"elasticsearch: unknown keys {sorted(unknown_keys)}")
    es = EsConfig(url=es_url(opts.es_url), alias=opts.index, **es_section)
    return RunConfig(
        es=es,
        inputs=tuple(opts.input),
        deadletter_dir=opts.deadletter_dir,
        pending_dir=opts.pending_dir,
        resume=opts.resume,
        dedup=dict(data.get("dedup") or {}),
    )
