"""Quality gate for the date tagger: floors pinned just below the measured scores.

Measured on 2026-11-25 (``python -m eval.dates``): gold (dev) exact F1 0.975, overlap F1 0.992,
value 0.962; held-out exact F1 0.917, overlap F1 0.968, value 0.934; Recognizers exact F1 0.788,
overlap F1 0.935, value 0.860; dateparser exact F1 / value on the same texts: gold 0.197 / 0.429,
held-out 0.248 / 0.447, Recognizers 0.165 / 0.265. Throughput 951 articles per CPU second.
Raising a floor is a deliberate commit.
"""

import pytest

from eval.dates import benchmark, evaluate_set, load_article_texts

FLOORS = {
    "gold": {"exact_f1": 0.96, "overlap_f1": 0.98, "value_accuracy": 0.95},
    "heldout": {"exact_f1": 0.90, "overlap_f1": 0.95, "value_accuracy": 0.92},
    "recognizers": {"exact_f1": 0.77, "overlap_f1": 0.92, "value_accuracy": 0.85},
}
MIN_RATIO_OVER_DATEPARSER = 2.0
MIN_ARTICLES_PER_CPU_SECOND = 500


@pytest.fixture(scope="module", params=sorted(FLOORS))
def scored(request):
    return request.param, evaluate_set(request.param, with_dateparser=True)


def test_scores_above_floor(scored):
    name, report = scored
    ours, floor = report["akhbar"], FLOORS[name]
    assert ours["exact"]["f1"] >= floor["exact_f1"], ours
    assert ours["overlap"]["f1"] >= floor["overlap_f1"], ours
    assert ours["value_accuracy"] >= floor["value_accuracy"], ours


def test_at_least_twice_dateparser(scored):
    name, report = scored
    ours, theirs = report["akhbar"], report["dateparser"]
    assert ours["exact"]["f1"] >= MIN_RATIO_OVER_DATEPARSER * theirs["exact"]["f1"], (name, ours, theirs)
    assert ours["value_accuracy"] >= MIN_RATIO_OVER_DATEPARSER * theirs["value_accuracy"], (name, ours, theirs)


def test_throughput_on_news_articles():
    texts = load_article_texts(limit=1500)
    result = benchmark(texts)
    assert result["articles_per_cpu_s"] >= MIN_ARTICLES_PER_CPU_SECOND, result
