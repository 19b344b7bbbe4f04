"""Write a patched copy of Prism's metrics store and a ``go build -overlay`` file that uses it.

Beam's Prism (v2.70.0, and still v2.78.0) keeps the monitoring payloads whose short ids it does
not know yet in a map keyed by short id: when two bundles report the same new short id before
the SDK has described it, the second payload replaces the first, and that bundle's counts are
lost for good (``jobservices/metrics.go``, ``contributeMetrics``). Under streaming, where bundles
of a stage finish concurrently, ``akhbar stream`` then printed a MISMATCH summary (for example
``read=19`` with 25 articles indexed, all of them correct in Elasticsearch) in about one run in
three. The patch queues every such payload and adds them all once the short id is known.

Usage: ``python3 patch_prism.py MODULE_DIR GO_MOD OUT_DIR`` (MODULE_DIR: the Beam Go SDK module,
as ``go list -m -f '{{.Dir}}'`` prints it; GO_MOD: ``runners/prism/go.mod``). Copies the module to
``OUT_DIR/beam-sdks`` with the patched file (``go build -overlay`` may not replace files in the
module cache) and writes ``OUT_DIR/go.mod`` (GO_MOD plus a ``replace`` to that copy) and
``OUT_DIR/go.sum``, for ``go build -modfile``. Fails if the file is not the one this patch was
written for.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

METRICS_GO = Path("go/pkg/beam/runners/prism/internal/jobservices/metrics.go")

# (original, replacement): each original must occur exactly once.
EDITS = [
    (
        "\tunprocessedPayloads [2]map[string][]byte\n",
        "\tunprocessedPayloads [2]map[string][][]byte // akhbar: every payload kept, not the last\n",
    ),
    (
        "\tfor d, payloads := range m.unprocessedPayloads {\n"
        "\t\tm.unprocessedPayloads[d] = nil\n"
        "\t\tm.contributeMetrics(durability(d), payloads)\n"
        "\t}\n",
        "\tfor d, pending := range m.unprocessedPayloads {\n"
        "\t\tm.unprocessedPayloads[d] = nil\n"
        "\t\tfor short, payloads := range pending {\n"
        "\t\t\tfor _, payload := range payloads {\n"
        "\t\t\t\tm.contributeMetrics(durability(d), map[string][]byte{short: payload})\n"
        "\t\t\t}\n"
        "\t\t}\n"
        "\t}\n",
    ),
    (
        "\t\tm.unprocessedPayloads[d] = map[string][]byte{}\n",
        "\t\tm.unprocessedPayloads[d] = map[string][][]byte{}\n",
    ),
    (
        "\t\t\tm.unprocessedPayloads[d][short] = payload\n",
        "\t\t\tm.unprocessedPayloads[d][short] = append(m.unprocessedPayloads[d][short], payload)\n",
    ),
]


def main(module_dir: str, go_mod: str, out_dir: str) -> None:
    module, out = Path(module_dir), Path(out_dir).resolve()
    text = (module / METRICS_GO).read_text(encoding="utf-8")
    for old, new in EDITS:
        if text.count(old) != 1:
            sys.exit(f"patch_prism: {module / METRICS_GO} is not the file this patch expects ({old.strip()[:60]!r})")
        text = text.replace(old, new)
    copy = out / "beam-sdks"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(module, copy, copy_function=shutil.copyfile)  # module cache files are read-only
    (copy / METRICS_GO).write_text(text, encoding="utf-8")
    mod = Path(go_mod)
    replace = f"\nreplace github.com/apache/beam/sdks/v2 => {copy}\n"
    (out / "go.mod").write_text(mod.read_text(encoding="utf-8") + replace, encoding="utf-8")
    shutil.copyfile(mod.with_name("go.sum"), out / "go.sum")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
