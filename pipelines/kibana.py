"""Kibana saved objects for akhbar: ``akhbar kibana import`` and ``akhbar kibana export``.

The objects live in ``config/kibana/*.ndjson`` (one saved object per line, the format of
Kibana's saved objects import/export API, targeting Kibana 8.19). Data flow:

* import: files -> ``with_index`` (data view titles follow ``--index``) -> one NDJSON upload
  to ``POST [/s/<space>]/api/saved_objects/_import?overwrite=true`` -> Kibana's answer, whose
  ``errors`` array is printed when an object is refused;
* export: the ids and types found in the files -> ``POST [/s/<space>]/api/saved_objects/_export``
  -> ``canonical`` (volatile keys dropped, embedded JSON strings re-serialized with sorted keys)
  -> ``without_index`` -> each object written back to the file it came from, sorted by type and id.

``fields_used`` lists every index field an object relies on (time field, formats, columns,
sort, KQL queries, aggregation fields); ``check_fields`` compares that list with what the
index actually has (from ``_field_caps``, like Kibana itself) so a renamed mapping field
cannot silently break a dashboard.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import config_path

DEFAULT_KIBANA_URL = "http://127.0.0.1:5601"
DEFAULT_INDEX = "akhbar"
DEFAULT_FEED_HEALTH_INDEX = "akhbar-feed-health"

# Data view id -> title template. The articles and dead-letter titles follow `--index`.
DATA_VIEW_TITLES = {
    "akhbar-articles": "{index}",
    "akhbar-deadletter": "{index}-deadletter",
    "akhbar-feed-health": "{feed_health_index}",
}

# Attributes that Kibana stores as JSON inside a string; re-serialized with sorted keys for stable files.
JSON_STRING_ATTRIBUTES = (
    "visState",
    "uiStateJSON",
    "panelsJSON",
    "optionsJSON",
    "fieldFormatMap",
    "fieldAttrs",
    "fields",
    "runtimeFieldMap",
    "sourceFilters",
)
# Keys a live Kibana adds on export that change on every save: not kept in the files.
VOLATILE_KEYS = ("created_at", "created_by", "updated_at", "updated_by", "version", "namespaces", "originId")
TYPE_ORDER = {"index-pattern": 0, "search": 1, "visualization": 2, "lens": 2, "dashboard": 3}

# Which Kibana field types each aggregation accepts (``filterFieldTypes`` of Kibana's agg types).
AGG_FIELD_TYPES = {
    "terms": {"string", "number", "boolean", "date", "ip"},
    "date_histogram": {"date", "date_range"},
    "histogram": {"number", "number_range"},
    "avg": {"number", "histogram"},
    "sum": {"number", "histogram"},
    "max": {"number", "date", "histogram"},
    "min": {"number", "date", "histogram"},
    "cardinality": {"string", "number", "boolean", "date", "ip", "date_range", "number_range"},
}
# Elasticsearch mapping types -> Kibana field types (``@kbn/field-types``).
ES_TO_KIBANA_TYPE = {
    "text": "string",
    "keyword": "string",
    "match_only_text": "string",
    "constant_keyword": "string",
    "wildcard": "string",
    "long": "number",
    "integer": "number",
    "short": "number",
    "byte": "number",
    "double": "number",
    "float": "number",
    "half_float": "number",
    "scaled_float": "number",
    "unsigned_long": "number",
    "date": "date",
    "date_nanos": "date",
    "date_range": "date_range",
    "integer_range": "number_range",
    "long_range": "number_range",
    "float_range": "number_range",
    "double_range": "number_range",
    "boolean": "boolean",
    "ip": "ip",
}

# The same rule as transforms.elasticsearch.redact, without importing Beam for a Kibana upload.
_CREDENTIALS_IN_URL = re.compile(r"(?<=//)[^/@\s]+@")
_KQL_FIELD = re.compile(r"(?<![\w.\"])([A-Za-z_@][\w.]*)\s*(?::|<=|>=|<|>)")


def redact(text: str) -> str:
    """Remove credentials embedded in URLs (``https://user:pass@host``) from a message."""
    return _CREDENTIALS_IN_URL.sub("***@", text)


class KibanaError(Exception):
    """A failed request to Kibana, with a message fit for the terminal."""


# ---------------------------------------------------------------------------------------------
# Files


def object_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.ndjson"))


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    objects = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path.name}:{number}: not JSON: {err}") from err
        if not isinstance(obj, dict) or not obj.get("id") or not obj.get("type"):
            raise ValueError(f"{path.name}:{number}: a saved object needs an id and a type")
        objects.append(obj)
    return objects


def load_objects(directory: Path) -> dict[Path, list[dict[str, Any]]]:
    """The saved objects of every ``*.ndjson`` file in ``directory``, by file."""
    files = object_files(directory)
    if not files:
        raise ValueError(f"no *.ndjson saved objects in {directory}")
    return {path: read_ndjson(path) for path in files}


def all_objects(by_file: Mapping[Path, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [obj for objects in by_file.values() for obj in objects]


def sort_key(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    return TYPE_ORDER.get(obj["type"], 9), obj["type"], obj["id"]


def dumps_line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_ndjson(path: Path, objects: Iterable[Mapping[str, Any]]) -> None:
    """Writes ``objects`` in their canonical form, sorted by type and id: the same input gives the same bytes."""
    lines = [dumps_line(canonical(obj)) for obj in sorted(objects, key=sort_key)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _canonical_json_string(value: str) -> str:
    return json.dumps(json.loads(value), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without volatile keys, its embedded JSON strings re-serialized with sorted keys."""
    out = {key: value for key, value in obj.items() if key not in VOLATILE_KEYS}
    attributes = dict(out.get("attributes", {}))
    for name in JSON_STRING_ATTRIBUTES:
        if isinstance(attributes.get(name), str) and attributes[name]:
            attributes[name] = _canonical_json_string(attributes[name])
    meta = attributes.get("kibanaSavedObjectMeta")
    if isinstance(meta, dict) and isinstance(meta.get("searchSourceJSON"), str):
        attributes["kibanaSavedObjectMeta"] = {
            **meta,
            "searchSourceJSON": _canonical_json_string(meta["searchSourceJSON"]),
        }
    out["attributes"] = attributes
    out["references"] = sorted(out.get("references", []), key=lambda ref: (ref["name"], ref["type"], ref["id"]))
    return out


# ---------------------------------------------------------------------------------------------
# Index names


def data_view_titles(index: str = DEFAULT_INDEX, feed_health_index: str = DEFAULT_FEED_HEALTH_INDEX) -> dict[str, str]:
    return {
        view_id: template.format(index=index, feed_health_index=feed_health_index)
        for view_id, template in DATA_VIEW_TITLES.items()
    }


def _retitle(
    objects: Iterable[Mapping[str, Any]], titles: Mapping[str, str], expected: Mapping[str, str]
) -> list[dict[str, Any]]:
    out = []
    for obj in objects:
        obj = dict(obj)
        if obj["type"] == "index-pattern" and obj["id"] in titles:
            attributes = dict(obj["attributes"])
            if attributes.get("title") != expected[obj["id"]]:
                raise ValueError(
                    f"data view {obj['id']} has title {attributes.get('title')!r}, expected {expected[obj['id']]!r}"
                )
            attributes["title"] = titles[obj["id"]]
            obj["attributes"] = attributes
        out.append(obj)
    return out


def with_index(
    objects: Iterable[Mapping[str, Any]], index: str = DEFAULT_INDEX, feed_health_index: str = DEFAULT_FEED_HEALTH_INDEX
) -> list[dict[str, Any]]:
    """The objects as stored in the files, with data view titles pointing at ``index``."""
    return _retitle(objects, data_view_titles(index, feed_health_index), data_view_titles())


def without_index(
    objects: Iterable[Mapping[str, Any]], index: str = DEFAULT_INDEX, feed_health_index: str = DEFAULT_FEED_HEALTH_INDEX
) -> list[dict[str, Any]]:
    """The inverse of ``with_index``: exported objects back to the default titles of the files."""
    return _retitle(objects, data_view_titles(), data_view_titles(index, feed_health_index))


# ---------------------------------------------------------------------------------------------
# Fields the objects use


@dataclass(frozen=True)
class FieldUse:
    """One place where a saved object relies on an index field."""

    object_type: str
    object_id: str
    data_view: str
    field: str
    use: str  # time | format | label | source_filter | column | sort | query | agg:<type>

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id}: {self.use} on {self.field!r} (data view {self.data_view})"


def kql_fields(query: str) -> set[str]:
    """Field names in a KQL query (``field : value``, ``field >= 3``); quoted values are skipped."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    return set(_KQL_FIELD.findall(unquoted))


def _reference(obj: Mapping[str, Any], name: str) -> str | None:
    for ref in obj.get("references", []):
        if ref["name"] == name:
            return str(ref["id"])
    return None


def _search_source(obj: Mapping[str, Any]) -> dict[str, Any]:
    raw = obj.get("attributes", {}).get("kibanaSavedObjectMeta", {}).get("searchSourceJSON") or "{}"
    return dict(json.loads(raw))


def _query_uses(obj: Mapping[str, Any], view: str, query: Mapping[str, Any] | None) -> list[FieldUse]:
    if not query or query.get("language") != "kuery":
        return []
    return [
        FieldUse(obj["type"], obj["id"], view, field, "query") for field in sorted(kql_fields(query.get("query", "")))
    ]


def fields_used(objects: Iterable[Mapping[str, Any]]) -> list[FieldUse]:
    """Every index field each object uses, with the data view it is read through."""
    uses: list[FieldUse] = []
    for obj in objects:
        kind, oid, attributes = obj["type"], obj["id"], obj.get("attributes", {})
        if kind == "index-pattern":
            if attributes.get("timeFieldName"):
                uses.append(FieldUse(kind, oid, oid, attributes["timeFieldName"], "time"))
            for field in json.loads(attributes.get("fieldFormatMap") or "{}"):
                uses.append(FieldUse(kind, oid, oid, field, "format"))
            for field in json.loads(attributes.get("fieldAttrs") or "{}"):
                uses.append(FieldUse(kind, oid, oid, field, "label"))
            for source_filter in json.loads(attributes.get("sourceFilters") or "[]"):
                uses.append(FieldUse(kind, oid, oid, source_filter["value"], "source_filter"))
            continue
        view = _reference(obj, "kibanaSavedObjectMeta.searchSourceJSON.index")
        if view is None:
            continue
        source = _search_source(obj)
        uses.extend(_query_uses(obj, view, source.get("query")))
        if kind == "search":
            uses.extend(FieldUse(kind, oid, view, column, "column") for column in attributes.get("columns", []))
            uses.extend(FieldUse(kind, oid, view, field, "sort") for field, _ in attributes.get("sort", []))
        elif kind == "visualization":
            for agg in json.loads(attributes["visState"]).get("aggs", []):
                params = agg.get("params", {})
                if params.get("field"):
                    uses.append(FieldUse(kind, oid, view, params["field"], f"agg:{agg['type']}"))
                for entry in params.get("filters", []):
                    uses.extend(_query_uses(obj, view, entry.get("input")))
    return uses


@dataclass(frozen=True)
class FieldCaps:
    """What Kibana learns about one field from ``_field_caps``."""

    types: frozenset[str]  # Elasticsearch types (more than one means a conflict across indices)
    searchable: bool
    aggregatable: bool

    @property
    def kibana_type(self) -> str:
        if len(self.types) != 1:
            return "conflict"
        return ES_TO_KIBANA_TYPE.get(next(iter(self.types)), "unknown")


def caps_from_field_caps(response: Mapping[str, Any]) -> dict[str, FieldCaps]:
    """A ``_field_caps`` response -> field name -> ``FieldCaps`` (object parents skipped)."""
    caps = {}
    for name, by_type in response["fields"].items():
        types = {es_type for es_type in by_type if es_type not in ("object", "nested")}
        if not types or name.startswith("_"):
            continue
        caps[name] = FieldCaps(
            types=frozenset(types),
            searchable=all(by_type[t].get("searchable", False) for t in types),
            aggregatable=all(by_type[t].get("aggregatable", False) for t in types),
        )
    return caps


def caps_from_mapping(properties: Mapping[str, Any], prefix: str = "") -> dict[str, FieldCaps]:
    """Field caps derived from mapping ``properties`` alone, for checks without a server."""
    caps: dict[str, FieldCaps] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            caps.update(caps_from_mapping(spec["properties"], f"{path}."))
            continue
        es_type = spec.get("type", "object")
        indexed = spec.get("index", True)
        doc_values = spec.get("doc_values", es_type != "text")
        caps[path] = FieldCaps(
            frozenset({es_type}), searchable=bool(indexed), aggregatable=es_type != "text" and bool(doc_values)
        )
        for sub, sub_spec in spec.get("fields", {}).items():
            caps.update(caps_from_mapping({sub: sub_spec}, f"{path}."))
    return caps


def check_fields(uses: Iterable[FieldUse], caps_by_view: Mapping[str, Mapping[str, FieldCaps]]) -> list[str]:
    """Problems (empty when every used field exists and fits its use)."""
    problems = []
    for use in uses:
        caps = caps_by_view.get(use.data_view)
        if caps is None:
            problems.append(f"{use}: no field list for data view {use.data_view}")
            continue
        if use.use == "source_filter":
            pattern = re.compile(re.escape(use.field).replace(r"\*", ".*") + r"$")
            if not any(pattern.match(name) for name in caps):
                problems.append(f"{use}: no field matches")
            continue
        field = caps.get(use.field)
        if field is None:
            problems.append(f"{use}: no such field in the index")
        elif use.use == "time" and field.kibana_type != "date":
            problems.append(f"{use}: a time field must be a date, not {field.kibana_type}")
        elif use.use in ("sort", "time") and not field.aggregatable:
            problems.append(f"{use}: field is not sortable (no doc values)")
        elif use.use == "query" and not field.searchable:
            problems.append(f"{use}: field is not searchable")
        elif use.use.startswith("agg:"):
            agg = use.use.removeprefix("agg:")
            allowed = AGG_FIELD_TYPES.get(agg)
            if not field.aggregatable:
                problems.append(f"{use}: field is not aggregatable")
            elif allowed is not None and field.kibana_type not in allowed:
                problems.append(f"{use}: a {agg} aggregation cannot use a {field.kibana_type} field")
    return problems


def field_caps(client: Any, index: str) -> dict[str, FieldCaps]:
    """The field list Kibana would build for a data view whose title is ``index``."""
    return caps_from_field_caps(client.field_caps(index=index, fields="*"))


# ---------------------------------------------------------------------------------------------
# HTTP


def kibana_url(cli_value: str | None) -> str:
    return (cli_value or os.environ.get("AKHBAR_KIBANA_URL") or DEFAULT_KIBANA_URL).rstrip("/")


def _secret(name: str) -> str | None:
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    return Path(path).read_text(encoding="utf-8").strip() if path else None


def _session() -> Any:
    """A requests session with credentials from the environment; TLS is verified for https."""
    import requests

    session = requests.Session()
    session.headers["kbn-xsrf"] = "akhbar"
    if api_key := _secret("AKHBAR_KIBANA_API_KEY"):
        session.headers["Authorization"] = f"ApiKey {api_key}"
    elif (user := os.environ.get("AKHBAR_KIBANA_USERNAME")) and (password := _secret("AKHBAR_KIBANA_PASSWORD")):
        session.auth = (user, password)
    return session


def _verify(url: str) -> bool | str:
    """``verify=`` for requests: a private CA bundle when configured, else the system's trust store."""
    if url.startswith("https") and os.environ.get("AKHBAR_KIBANA_CA_CERTS"):
        return os.environ["AKHBAR_KIBANA_CA_CERTS"]
    return True


def api_url(base: str, space: str | None, path: str) -> str:
    prefix = f"/s/{space}" if space and space != "default" else ""
    return f"{base}{prefix}{path}"


def _describe_failure(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    message = body.get("message") or body.get("error") or response.text[:500]
    return f"HTTP {response.status_code}: {message}"


def _post(session: Any, url: str, timeout: float, **kwargs: Any) -> Any:
    import requests

    try:
        # per request: requests lets REQUESTS_CA_BUNDLE override a session-level `verify`
        return session.post(url, timeout=timeout, verify=_verify(url), **kwargs)
    except requests.exceptions.SSLError as err:
        raise KibanaError(
            f"TLS verification failed for {redact(url)} (AKHBAR_KIBANA_CA_CERTS names a private CA): {redact(str(err))}"
        ) from err
    except requests.exceptions.RequestException as err:
        raise KibanaError(f"cannot reach Kibana at {redact(url)}: {type(err).__name__}: {redact(str(err))}") from err


def format_import_errors(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = []
    for error in errors:
        detail = dict(error.get("error", {}))
        kind = detail.pop("type", "error")
        extra = f" {json.dumps(detail, ensure_ascii=False)}" if detail else ""
        title = f" ({error['meta']['title']})" if error.get("meta", {}).get("title") else ""
        title = title or (f" ({error['title']})" if error.get("title") else "")
        lines.append(f"  {error.get('type')} {error.get('id')}{title}: {kind}{extra}")
    return lines


def import_objects(
    objects: list[dict[str, Any]], base_url: str, space: str | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """Upload ``objects`` as one NDJSON file with overwrite; Kibana's answer, or ``KibanaError``."""
    payload = "".join(dumps_line(obj) + "\n" for obj in sorted(objects, key=sort_key)).encode("utf-8")
    url = api_url(base_url, space, "/api/saved_objects/_import")
    with _session() as session:
        response = _post(
            session,
            url,
            timeout,
            params={"overwrite": "true"},
            files={"file": ("akhbar.ndjson", payload, "application/ndjson")},
        )
    if response.status_code != 200:
        raise KibanaError(f"import refused: {_describe_failure(response)}")
    result: dict[str, Any] = response.json()
    if not result.get("success"):
        lines = format_import_errors(result.get("errors", []))
        raise KibanaError(
            f"Kibana imported {result.get('successCount', 0)} of {len(objects)} saved objects; errors:\n"
            + "\n".join(lines)
        )
    return result


def export_objects(
    wanted: Sequence[Mapping[str, Any]], base_url: str, space: str | None = None, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The live versions of ``wanted`` (dicts with type and id), without the export details line."""
    url = api_url(base_url, space, "/api/saved_objects/_export")
    body = {
        "objects": [{"type": obj["type"], "id": obj["id"]} for obj in wanted],
        "includeReferencesDeep": False,
        "excludeExportDetails": False,
    }
    with _session() as session:
        response = _post(session, url, timeout, json=body)
    if response.status_code != 200:
        raise KibanaError(f"export refused: {_describe_failure(response)}")
    exported, details = [], {}
    for line in response.text.splitlines():
        if line.strip():
            item = json.loads(line)
            if "exportedCount" in item:
                details = item
            else:
                exported.append(item)
    missing = {(obj["type"], obj["id"]) for obj in wanted} - {(obj["type"], obj["id"]) for obj in exported}
    if missing or details.get("missingRefCount"):
        absent = sorted(missing) + [(r["type"], r["id"]) for r in details.get("missingReferences", [])]
        raise KibanaError("Kibana does not have: " + ", ".join(f"{t} {i}" for t, i in absent))
    return exported


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``import`` and ``export`` sub-commands to ``parser`` (``akhbar kibana``)."""
    commands = parser.add_subparsers(dest="kibana_command", required=True)
    for name, help_text in (
        ("import", "post the saved objects in config/kibana/ to Kibana (overwrite)"),
        ("export", "refresh config/kibana/ from a live Kibana (same ids and types), sorted and stable"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument(
            "--kibana-url",
            "--kibana_url",
            dest="kibana_url",
            default=None,
            help=f"Kibana base URL (default: $AKHBAR_KIBANA_URL or {DEFAULT_KIBANA_URL})",
        )
        sub.add_argument("--space", default=None, help="Kibana space id (default: the default space)")
        sub.add_argument(
            "--index",
            default=DEFAULT_INDEX,
            help="articles alias the data views point at, as given to `akhbar batch --index` (default: akhbar); "
            "the dead-letter data view follows as <index>-deadletter",
        )
        sub.add_argument(
            "--feed-health-index",
            "--feed_health_index",
            dest="feed_health_index",
            default=DEFAULT_FEED_HEALTH_INDEX,
            help=f"feed health index of `akhbar stream` (default: {DEFAULT_FEED_HEALTH_INDEX})",
        )
        sub.add_argument(
            "--dir", type=Path, default=None, help="folder of the *.ndjson saved objects (default: config/kibana/)"
        )
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)")


def run(args: argparse.Namespace) -> int:
    directory = args.dir or config_path("kibana")
    base = kibana_url(args.kibana_url)
    where = f"{redact(base)}" + (f" (space {args.space})" if args.space else "")
    try:
        by_file = load_objects(directory)
        objects = all_objects(by_file)
        if args.kibana_command == "import":
            result = import_objects(
                with_index(objects, args.index, args.feed_health_index), base, args.space, args.timeout
            )
            print(
                f"imported {result.get('successCount', 0)} saved objects into Kibana at {where}; "
                f"data views: {args.index}, {args.index}-deadletter, {args.feed_health_index}"
            )
            return 0
        exported = export_objects(objects, base, args.space, args.timeout)
        live = {(obj["type"], obj["id"]): obj for obj in without_index(exported, args.index, args.feed_health_index)}
        for path, file_objects in by_file.items():
            write_ndjson(path, [live[(obj["type"], obj["id"])] for obj in file_objects])
        print(f"exported {len(live)} saved objects from Kibana at {where} into {directory}")
        return 0
    except (KibanaError, ValueError) as err:
        print(f"akhbar kibana {args.kibana_command}: {err}", file=sys.stderr)
        return 1
