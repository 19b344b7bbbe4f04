"""`akhbar kibana import|export` against a local fake Kibana on 127.0.0.1.

The fake validates requests the way Kibana's saved objects API does: a ``kbn-xsrf`` header,
``multipart/form-data`` with a ``file`` part named ``*.ndjson``, ``overwrite`` and
``createNewCopies`` exclusive, spaces under ``/s/<space>``, references resolved within the
upload or the space (``missing_references`` otherwise), ``401`` without the configured
credentials; export answers NDJSON with the keys a live Kibana adds and an export details line.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from config import config_path
from pipelines import kibana

KIBANA_DIR = config_path("kibana")
SUPPORTED_TYPES = {"index-pattern", "search", "visualization", "lens", "dashboard", "config"}


@dataclass
class FakeKibana:
    """State of the fake: saved objects per space and the requests it received."""

    authorization: str | None = None  # the exact Authorization header required, if any
    spaces: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def objects(self, space: str = "default") -> dict[tuple[str, str], dict[str, Any]]:
        return self.spaces.setdefault(space, {})


def _handler(state: FakeKibana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, **extra: Any) -> None:
            names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 415: "Unsupported Media Type"}
            self._reply(status, {"statusCode": status, "error": names[status], "message": message, **extra})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            path, space = parts.path, "default"
            if path.startswith("/s/"):
                _, _, space, rest = path.split("/", 3)
                path = "/" + rest
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(
                {"path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers), "body": body}
            )
            if state.authorization and self.headers.get("Authorization") != state.authorization:
                return self._error(401, "[security_exception]: unable to authenticate user")
            if "kbn-xsrf" not in {name.lower() for name in self.headers}:
                return self._error(400, "Request must contain a kbn-xsrf header.")
            if path == "/api/saved_objects/_import":
                return self._import(space, parse_qs(parts.query), body)
            if path == "/api/saved_objects/_export":
                return self._export(space, body)
            return self._error(404, "Not Found")

        def _import(self, space: str, query: dict[str, list[str]], body: bytes) -> None:
            overwrite = query.get("overwrite", ["false"])[0] == "true"
            if overwrite and query.get("createNewCopies", ["false"])[0] == "true":
                return self._error(400, "cannot use [overwrite] with [createNewCopies]")
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("multipart/form-data"):
                return self._error(415, f"Unsupported Content-Type header {content_type}")
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
            files = [
                part for part in message.iter_parts() if part.get_param("name", header="content-disposition") == "file"
            ]
            if len(files) != 1:
                return self._error(400, "[request body.file]: expected value of type [Stream] but got [undefined]")
            filename = files[0].get_filename() or ""
            if not filename.lower().endswith(".ndjson"):
                return self._error(400, f"Invalid file extension {Path(filename).suffix}")
            lines = files[0].get_payload(decode=True).decode("utf-8").splitlines()
            try:
                upload = [json.loads(line) for line in lines if line.strip()]
            except json.JSONDecodeError as err:
                return self._error(400, f"Unexpected token in JSON: {err}")
            stored = state.objects(space)
            uploaded = {(obj["type"], obj["id"]) for obj in upload}
            errors, successes = [], []
            for obj in upload:
                key = (obj["type"], obj["id"])
                title = obj.get("attributes", {}).get("title")
                meta = {"title": title}
                if obj["type"] not in SUPPORTED_TYPES:
                    errors.append({**_ident(obj), "meta": meta, "error": {"type": "unsupported_type"}})
                    continue
                missing = [
                    {"type": ref["type"], "id": ref["id"]}
                    for ref in obj.get("references", [])
                    if (ref["type"], ref["id"]) not in uploaded and (ref["type"], ref["id"]) not in stored
                ]
                if missing:
                    errors.append(
                        {
                            **_ident(obj),
                            "title": title,
                            "meta": meta,
                            "error": {"type": "missing_references", "references": missing},
                        }
                    )
                elif key in stored and not overwrite:
                    errors.append({**_ident(obj), "meta": meta, "error": {"type": "conflict"}})
                else:
                    successes.append((key, obj))
            for key, obj in successes:
                stored[key] = obj
            result: dict[str, Any] = {
                "success": not errors,
                "successCount": len(successes),
                "successResults": [
                    {**_ident(obj), "meta": {"title": obj["attributes"].get("title")}} for _, obj in successes
                ],
            }
            if errors:
                result["errors"] = errors
            return self._reply(200, result)

        def _export(self, space: str, body: bytes) -> None:
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                return self._error(415, "Unsupported Media Type")
            request = json.loads(body)
            if not request.get("objects") and not request.get("type"):
                return self._error(400, "Either `type` or `objects` are required.")
            stored = state.objects(space)
            absent = [o for o in request["objects"] if (o["type"], o["id"]) not in stored]
            if absent:
                objects = [{"id": o["id"], "type": o["type"], "error": {"statusCode": 404}} for o in absent]
                return self._error(400, "Error fetching objects to export", attributes={"objects": objects})
            lines = []
            for wanted in request["objects"]:
                live = dict(stored[(wanted["type"], wanted["id"])])
                live.update(  # what a live Kibana adds on export
                    created_at="2026-11-25T08:00:00.000Z", updated_at="2026-11-25T09:00:00.000Z", version="WzEsMV0="
                )
                lines.append(json.dumps(live, ensure_ascii=False))
            details = {
                "excludedObjects": [],
                "excludedObjectsCount": 0,
                "exportedCount": len(lines),
                "missingRefCount": 0,
                "missingReferences": [],
            }
            if not request.get("excludeExportDetails"):
                lines.append(json.dumps(details))
            return self._reply(200, ("\n".join(lines) + "\n").encode(), "application/ndjson")

    return Handler


def _ident(obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": obj["type"], "id": obj["id"]}


def _serve(state: FakeKibana, tls: ssl.SSLContext | None = None) -> Iterator[FakeKibana]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_kibana() -> Iterator[FakeKibana]:
    yield from _serve(FakeKibana())


@pytest.fixture(autouse=True)
def no_kibana_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AKHBAR_KIBANA_URL",
        "AKHBAR_KIBANA_API_KEY",
        "AKHBAR_KIBANA_API_KEY_FILE",
        "AKHBAR_KIBANA_USERNAME",
        "AKHBAR_KIBANA_PASSWORD",
        "AKHBAR_KIBANA_PASSWORD_FILE",
        "AKHBAR_KIBANA_CA_CERTS",
    ):
        monkeypatch.delenv(name, raising=False)


def akhbar_kibana(*argv: str) -> int:
    """What `akhbar kibana ARGV` runs once the lead wires it into pipelines/cli.py."""
    parser = argparse.ArgumentParser(prog="akhbar kibana")
    kibana.add_arguments(parser)
    return kibana.run(parser.parse_args(list(argv)))


def file_objects(directory: Path = KIBANA_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in kibana.all_objects(kibana.load_objects(directory))}


def test_import_posts_one_ndjson_file_with_overwrite_and_xsrf(fake_kibana, capsys):
    assert akhbar_kibana("import", "--kibana-url", fake_kibana.url) == 0

    [request] = fake_kibana.requests
    assert request["path"] == "/api/saved_objects/_import"
    assert request["query"] == {"overwrite": ["true"]}
    assert "kbn-xsrf" in {name.lower() for name in request["headers"]}
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="akhbar.ndjson"' in request["body"]
    expected = file_objects()
    assert fake_kibana.objects() == expected  # nothing rewritten for the default index name
    assert len(expected) == 21
    assert f"imported {len(expected)} saved objects" in capsys.readouterr().out


def test_import_into_a_space_points_the_data_views_at_the_index(fake_kibana):
    assert akhbar_kibana("import", "--kibana-url", fake_kibana.url, "--space", "newsroom", "--index", "news") == 0

    assert fake_kibana.requests[0]["path"] == "/s/newsroom/api/saved_objects/_import"
    stored, expected = fake_kibana.objects("newsroom"), file_objects()
    titles = {oid: obj["attributes"]["title"] for (kind, oid), obj in stored.items() if kind == "index-pattern"}
    assert titles == {
        "akhbar-articles": "news",
        "akhbar-deadletter": "news-deadletter",
        "akhbar-feed-health": "akhbar-feed-health",
    }
    for key, obj in expected.items():
        if key[0] != "index-pattern":
            assert stored[key] == obj
    assert fake_kibana.objects("default") == {}


def test_import_sends_the_api_key_from_the_environment(monkeypatch):
    for state in _serve(FakeKibana(authorization="ApiKey c2VjcmV0")):
        assert akhbar_kibana("import", "--kibana-url", state.url) == 1  # no credentials: 401
        monkeypatch.setenv("AKHBAR_KIBANA_API_KEY", "c2VjcmV0")
        assert akhbar_kibana("import", "--kibana-url", state.url) == 0
        assert len(state.objects()) == 21


def test_import_sends_basic_auth_from_the_environment(monkeypatch, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n")
    monkeypatch.setenv("AKHBAR_KIBANA_USERNAME", "elastic")
    monkeypatch.setenv("AKHBAR_KIBANA_PASSWORD_FILE", str(password_file))
    expected = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    for state in _serve(FakeKibana(authorization=expected)):
        assert akhbar_kibana("import", "--kibana-url", state.url) == 0


def test_unauthorized_import_says_so(capsys):
    for state in _serve(FakeKibana(authorization="ApiKey other")):
        assert akhbar_kibana("import", "--kibana-url", state.url) == 1
    assert "import refused: HTTP 401: [security_exception]: unable to authenticate user" in capsys.readouterr().err


def test_import_prints_kibanas_errors(fake_kibana, tmp_path, capsys):
    shutil.copy(KIBANA_DIR / "visualizations.ndjson", tmp_path)  # without the data views they reference
    assert akhbar_kibana("import", "--kibana-url", fake_kibana.url, "--dir", str(tmp_path)) == 1

    err = capsys.readouterr().err
    assert "Kibana imported 0 of 15 saved objects; errors:" in err
    assert "visualization akhbar-top-persons (akhbar: top persons): missing_references" in err
    assert '"id": "akhbar-articles"' in err


def test_unreachable_kibana_is_a_clear_error(capsys):
    assert akhbar_kibana("import", "--kibana-url", "http://127.0.0.1:9", "--timeout", "2") == 1
    assert "cannot reach Kibana at http://127.0.0.1:9" in capsys.readouterr().err


def test_fake_kibana_validates_like_kibana(fake_kibana):
    """The checks above mean something only if the fake refuses what Kibana refuses."""
    url = f"{fake_kibana.url}/api/saved_objects/_import?overwrite=true"
    ndjson = (KIBANA_DIR / "data-views.ndjson").read_bytes()
    no_xsrf = requests.post(url, files={"file": ("x.ndjson", ndjson)}, timeout=5)
    assert no_xsrf.status_code == 400 and "kbn-xsrf" in no_xsrf.json()["message"]
    not_multipart = requests.post(url, data=ndjson, headers={"kbn-xsrf": "1"}, timeout=5)
    assert not_multipart.status_code == 415
    wrong_name = requests.post(url, files={"file": ("x.json", ndjson)}, headers={"kbn-xsrf": "1"}, timeout=5)
    assert wrong_name.status_code == 400 and "extension" in wrong_name.json()["message"]
    both = requests.post(
        url + "&createNewCopies=true", files={"file": ("x.ndjson", ndjson)}, headers={"kbn-xsrf": "1"}, timeout=5
    )
    assert both.status_code == 400
    ok = requests.post(url, files={"file": ("x.ndjson", ndjson)}, headers={"kbn-xsrf": "1"}, timeout=5)
    assert ok.json() == {**ok.json(), "success": True, "successCount": 3}
    again = requests.post(
        url.replace("overwrite=true", "overwrite=false"),
        files={"file": ("x.ndjson", ndjson)},
        headers={"kbn-xsrf": "1"},
        timeout=5,
    )
    assert {e["error"]["type"] for e in again.json()["errors"]} == {"conflict"}


def test_export_round_trip_is_byte_stable(fake_kibana, tmp_path):
    work = tmp_path / "kibana"
    shutil.copytree(KIBANA_DIR, work)
    assert akhbar_kibana("import", "--kibana-url", fake_kibana.url, "--space", "s1", "--index", "news") == 0
    assert (
        akhbar_kibana("export", "--kibana-url", fake_kibana.url, "--space", "s1", "--index", "news", "--dir", str(work))
        == 0
    )

    [export_request] = [r for r in fake_kibana.requests if r["path"].endswith("_export")]
    assert export_request["path"] == "/s/s1/api/saved_objects/_export"
    assert "kbn-xsrf" in {name.lower() for name in export_request["headers"]}
    wanted = json.loads(export_request["body"])["objects"]
    assert sorted((o["type"], o["id"]) for o in wanted) == sorted(file_objects())
    for path in sorted(KIBANA_DIR.glob("*.ndjson")):
        assert (work / path.name).read_bytes() == path.read_bytes(), path.name


def test_export_writes_what_changed_in_kibana(fake_kibana, tmp_path):
    work = tmp_path / "kibana"
    shutil.copytree(KIBANA_DIR, work)
    assert akhbar_kibana("import", "--kibana-url", fake_kibana.url) == 0
    edited = fake_kibana.objects()[("visualization", "akhbar-top-persons")]
    edited["attributes"] = {**edited["attributes"], "title": "أبرز الأشخاص"}  # edited and saved in Kibana
    assert akhbar_kibana("export", "--kibana-url", fake_kibana.url, "--dir", str(work)) == 0

    before = (KIBANA_DIR / "visualizations.ndjson").read_text(encoding="utf-8").splitlines()
    after = (work / "visualizations.ndjson").read_text(encoding="utf-8").splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 1
    new = json.loads(changed[0][1])
    assert new["id"] == "akhbar-top-persons" and new["attributes"]["title"] == "أبرز الأشخاص"
    assert "أبرز الأشخاص" in changed[0][1]  # written as UTF-8, not \u escapes
    assert not {"updated_at", "created_at", "version"} & set(new)
    for name in ("data-views.ndjson", "searches.ndjson", "dashboards.ndjson"):
        assert (work / name).read_bytes() == (KIBANA_DIR / name).read_bytes()


def test_export_of_objects_kibana_lacks_fails_and_writes_nothing(fake_kibana, tmp_path, capsys):
    work = tmp_path / "kibana"
    shutil.copytree(KIBANA_DIR, work)
    assert akhbar_kibana("export", "--kibana-url", fake_kibana.url, "--dir", str(work)) == 1
    assert "export refused: HTTP 400: Error fetching objects to export" in capsys.readouterr().err
    for path in KIBANA_DIR.glob("*.ndjson"):
        assert (work / path.name).read_bytes() == path.read_bytes()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_verifies_the_certificate(self_signed, monkeypatch, capsys):
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for state in _serve(FakeKibana(), tls=context):
        assert akhbar_kibana("import", "--kibana-url", state.url) == 1
        assert "TLS verification failed" in capsys.readouterr().err
        assert state.objects() == {}
        monkeypatch.setenv("AKHBAR_KIBANA_CA_CERTS", str(cert))
        assert akhbar_kibana("import", "--kibana-url", state.url) == 0
        assert len(state.objects()) == 21


def test_akhbar_cli_runs_the_kibana_commands(fake_kibana, tmp_path):
    from pipelines.cli import main

    work = tmp_path / "kibana"
    shutil.copytree(KIBANA_DIR, work)
    assert main(["kibana", "import", "--kibana-url", fake_kibana.url, "--index", "news"]) == 0
    assert fake_kibana.objects()[("index-pattern", "akhbar-articles")]["attributes"]["title"] == "news"
    assert main(["kibana", "export", "--kibana-url", fake_kibana.url, "--index", "news", "--dir", str(work)]) == 0
    for path in KIBANA_DIR.glob("*.ndjson"):
        assert (work / path.name).read_bytes() == path.read_bytes()
