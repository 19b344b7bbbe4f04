"""The run summary adds up what the counters say, and says when it does not."""

from pipelines.summary import RunSummary


def test_balanced_run():
    summary = RunSummary(
        {
            "read": 10,
            "inputs": 2,
            "dead_parse": 1,
            "dead": 2,
            "dead_clean": 1,
            "sink_indexed": 6,
            "sink_unchanged": 1,
            "duplicates_exact": 2,
        }
    )
    assert (summary.read, summary.indexed, summary.duplicates, summary.dead) == (11, 6, 3, 2)
    assert summary.balanced and summary.ok
    assert summary.line().endswith("[OK: read = indexed + duplicates + dead-lettered]")
    assert "parse 1" in summary.render()


def test_pending_documents_make_the_run_fail_but_balance():
    summary = RunSummary({"read": 5, "sink_indexed": 2, "sink_pending": 3})
    assert summary.balanced and not summary.ok
    assert "pending=3" in summary.line()


def test_a_lost_item_is_a_mismatch():
    summary = RunSummary({"read": 5, "sink_indexed": 4})
    assert not summary.balanced
    assert "MISMATCH" in summary.line() and "!=" in summary.line()


def test_relabel_failures_are_not_articles():
    summary = RunSummary({"read": 3, "sink_indexed": 3, "dead": 1, "dead_dedup_merge": 1})
    assert summary.balanced and summary.dead == 0
    assert "relabel failed" in summary.render()


def test_resumed_documents_count_as_read():
    summary = RunSummary({"read_pending": 4, "sink_indexed": 4})
    assert summary.read == 4 and summary.ok
