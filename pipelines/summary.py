"""The run summary: what was read, and where each item went, from the pipeline's metrics.

The invariant every run must show: read = indexed + duplicates + dead-lettered (+ pending,
documents kept for ``--resume`` while Elasticsearch was unreachable). ``replaced`` (shown
apart) counts indexed documents of earlier runs deleted because an article of this run is
their exact copy and wins the tie-break: the index grows by indexed - replaced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

INPUT_LEVEL_STEPS = ("read", "decode", "parse")  # dead letters that never became articles
NON_ARTICLE_STEPS = ("dedup_merge",)  # dead letters about index maintenance, not about an article


@dataclass(frozen=True)
class RunSummary:
    counters: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def read(self) -> int:
        input_level = sum(self.get(f"dead_{step}") for step in INPUT_LEVEL_STEPS)
        return self.get("read") + self.get("read_pending") + input_level

    @property
    def indexed(self) -> int:
        return self.get("sink_indexed")

    @property
    def duplicates(self) -> int:
        return self.get("duplicates_exact") + self.get("duplicates_near_dropped") + self.get("sink_unchanged")

    @property
    def dead(self) -> int:
        return self.get("dead") - sum(self.get(f"dead_{step}") for step in NON_ARTICLE_STEPS)

    @property
    def pending(self) -> int:
        return self.get("sink_pending")

    @property
    def balanced(self) -> bool:
        return self.read == self.indexed + self.duplicates + self.dead + self.pending

    @property
    def ok(self) -> bool:
        return self.balanced and self.pending == 0

    def dead_by_step(self) -> dict[str, int]:
        return {k.removeprefix("dead_"): v for k, v in sorted(self.counters.items()) if k.startswith("dead_") and v}

    def line(self) -> str:
        verdict = "OK" if self.balanced else "MISMATCH"
        text = f"read={self.read} indexed={self.indexed} duplicates={self.duplicates} dead-lettered={self.dead}"
        if self.pending:
            text += f" pending={self.pending}"
        relation = "=" if self.balanced else "!="
        terms = "indexed + duplicates + dead-lettered" + (" + pending" if self.pending else "")
        return f"{text} [{verdict}: read {relation} {terms}]"

    def _read_detail(self) -> str:
        detail = f"{self.get('read')} articles from {self.get('inputs')} inputs"
        if self.get("read_pending"):
            detail += f", {self.get('read_pending')} pending documents resumed"
        return detail

    def render(self) -> str:
        rows = [
            ("read", self.read, self._read_detail()),
            (
                "indexed",
                self.indexed,
                f"{self.get('near_duplicates_flagged')} of them flagged as near duplicates",
            ),
            (
                "duplicates",
                self.duplicates,
                f"exact in run {self.get('duplicates_exact')}, already indexed {self.get('sink_unchanged')}, "
                f"near dropped {self.get('duplicates_near_dropped')}",
            ),
            (
                "dead-lettered",
                self.dead,
                ", ".join(f"{k} {v}" for k, v in self.dead_by_step().items()) or "none",
            ),
        ]
        if self.pending:
            rows.append(("pending", self.pending, "Elasticsearch unreachable: re-run with --resume"))
        if replaced := self.get("sink_replaced"):  # not read in this run, so outside the invariant
            rows.append(("replaced", replaced, "earlier runs' exact copies deleted: an article of this run won"))
        rows.append(("retries", self.get("sink_retries"), "Elasticsearch requests or items retried"))
        if merges := sum(self.get(f"dead_{step}") for step in NON_ARTICLE_STEPS):
            rows.append(("relabel failed", merges, "indexed clusters not relabelled (dead letters, step dedup_merge)"))
        width = max(len(name) for name, _, _ in rows)
        lines = [f"  {name:<{width}}  {value:>7}  {detail}" for name, value, detail in rows]
        return "\n".join(["akhbar run summary", *lines, self.line()])


def summarize(result: Any) -> RunSummary:
    """Sum the ``akhbar`` counters of a finished pipeline result (committed where supported)."""
    totals: dict[str, int] = defaultdict(int)
    for counter in result.metrics().query(MetricsFilter().with_namespace("akhbar"))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += int(value or 0)
    return RunSummary(dict(totals))
