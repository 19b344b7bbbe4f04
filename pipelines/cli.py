"""The ``akhbar`` command line: batch, stream, normalize, tag, search and kibana.

``batch`` hands its arguments to ``pipelines.batch.run`` (Beam options pass through);
the other commands are thin wrappers over the pure functions in ``transforms``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date

from pipelines.options import es_url


def cmd_batch(argv: list[str]) -> int:
    from elastic_transport import ConnectionError as EsConnectionError

    from pipelines.batch import run

    try:
        summary = run(argv)
    except EsConnectionError as err:
        print(f"akhbar: Elasticsearch unreachable while preparing the run ({err}); nothing was read", file=sys.stderr)
        return 2
    print(summary.render())
    if summary.pending:
        print(
            f"akhbar: Elasticsearch stayed unreachable longer than the retry budget; {summary.pending} documents "
            "were written to the pending folder. Re-run the same command with --resume once it is back.",
            file=sys.stderr,
        )
    elif not summary.balanced:
        print("akhbar: the run does not add up: some input is not accounted for", file=sys.stderr)
    return 0 if summary.ok else 1


def cmd_normalize(args: argparse.Namespace) -> int:
    from transforms.normalize import fold
    from transforms.stem import stem_text

    sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]  # bad bytes must not stop the stream
    for line in sys.stdin:
        folded = fold(line.rstrip("\n"))
        sys.stdout.write((stem_text(folded) if args.stems else folded) + "\n")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from transforms.dates import tag_dates
    from transforms.entities import tag_entities

    text = sys.stdin.read()
    published = date.fromisoformat(args.published) if args.published else date.today()
    result = {"dates": tag_dates(text, published), "entities": tag_entities(text)}
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from transforms.elasticsearch import EsConfig, make_client
    from transforms.search import format_hits, search

    client = make_client(EsConfig(url=es_url(args.es_url), alias=args.index))
    try:
        hits = search(client, args.index, " ".join(args.query), size=args.size, hide_near_duplicates=args.unique)
    finally:
        client.close()
    print(format_hits(hits))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="akhbar", description="Arabic-first news ingestion into Elasticsearch.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "batch", help="ingest inputs once (Beam batch pipeline); see `akhbar batch --help`", add_help=False
    )
    commands.add_parser(
        "stream",
        help="poll feeds continuously (Beam streaming pipeline); see `akhbar stream --help`",
        add_help=False,
    )
    normalize = commands.add_parser("normalize", help="fold stdin lines to the search/dedup form")
    normalize.add_argument("--stems", action="store_true", help="print the light stems (folded.stems) instead")
    tag = commands.add_parser("tag", help="tag dates and entities in stdin text; prints JSON")
    tag.add_argument(
        "--published", help="publication day YYYY-MM-DD that relative dates resolve against (default: today)"
    )
    search = commands.add_parser("search", help="search the index; prints ranked hits")
    search.add_argument("query", nargs="+")
    search.add_argument("--index", default="akhbar", help="index alias (default: akhbar)")
    search.add_argument("--es-url", "--es_url", dest="es_url", default=None, help="Elasticsearch URL")
    search.add_argument("--size", type=int, default=10, help="number of hits (default 10)")
    search.add_argument("--unique", action="store_true", help="hide near duplicates (show one per cluster)")
    kibana = commands.add_parser("kibana", help="import or export the Kibana saved objects")
    from pipelines import kibana as kibana_commands

    kibana_commands.add_arguments(kibana)

    if argv and argv[0] == "batch":
        if any(flag in ("-h", "--help") for flag in argv[1:]):
            from pipelines.options import AkhbarOptions

            batch_parser = argparse.ArgumentParser(prog="akhbar batch", epilog="Beam pipeline options pass through.")
            AkhbarOptions._add_argparse_args(batch_parser)
            batch_parser.print_help()
            return 0
        return cmd_batch(argv[1:])
    if argv and argv[0] == "stream":
        from pipelines.stream import main as stream_main

        return stream_main(argv[1:])
    args = parser.parse_args(argv)
    handlers = {
        "normalize": cmd_normalize,
        "tag": cmd_tag,
        "search": cmd_search,
        "kibana": kibana_commands.run,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
