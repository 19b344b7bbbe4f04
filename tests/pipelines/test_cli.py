"""The CLI contracts other tools rely on: `akhbar normalize` and `akhbar tag`."""

from __future__ import annotations

import io
import json
import sys

from pipelines.cli import main
from tests.conftest import SEED


def run_cli(monkeypatch, capsys, argv: list[str], stdin: str) -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8"))
    assert main(argv) == 0
    return capsys.readouterr().out


def test_normalize_prints_one_folded_line_per_input_line(monkeypatch, capsys):
    lines = ["مسؤول", "مسئول", "", "شاطىء البحر", "أحمد  ٢٠٢٦", "فى"]
    out = run_cli(monkeypatch, capsys, ["normalize"], "\n".join(lines) + "\n")
    folded = out.split("\n")[:-1]
    assert len(folded) == len(lines)
    assert folded[0] == folded[1]
    assert folded[2] == ""
    assert folded[4] == "احمد 2026"
    assert folded[5] == "في"


def test_normalize_is_idempotent_on_the_seed(monkeypatch, capsys):
    seed = SEED.read_text(encoding="utf-8")
    once = run_cli(monkeypatch, capsys, ["normalize"], seed)
    twice = run_cli(monkeypatch, capsys, ["normalize"], once)
    assert once == twice
    assert once.count("\n") == seed.count("\n") + (0 if seed.endswith("\n") else 1)


def test_tag_prints_the_contract(monkeypatch, capsys):
    text = SEED.read_text(encoding="utf-8").split(" ", 3)[3]  # the text after the date header
    result = json.loads(run_cli(monkeypatch, capsys, ["tag", "--published", "2026-02-04"], text))
    assert set(result) >= {"dates", "entities"}
    for date in result["dates"]:
        assert {"text", "start", "end", "type", "value"} <= set(date)
        assert text[date["start"] : date["end"]] == date["text"]
        assert date["type"] in {"DATE", "TIME", "DURATION", "SET"}
    for entity in result["entities"]:
        assert {"text", "start", "end", "type", "canonical"} <= set(entity)
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["type"] in {"PER", "ORG", "LOC", "MISC"}
    values = {d["text"]: d["value"] for d in result["dates"]}
    assert values["أمس الثلاثاء"] == "2026-02-03"
    assert values["فبراير/شباط 2022"] == "2022-02"
    assert "دونالد ترامب" in {e["canonical"] for e in result["entities"]}
