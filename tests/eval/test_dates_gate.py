"""Quality gate for the date tagger: floors pinned just below the measured scores.

Measured on 2026-11-25 (``python -m eval.dates``), exact F1 / overlap F1 / value accuracy:
gold (dev) 0.975 / 0.992 / 0.962; held-out 0.942 / 0.981 / 0.961; held-out 2 0.993 / 0.993 / 0.960;
Recognizers 0.795 / 0.936 / 0.860. dateparser on the same texts, exact F1 / value accuracy: gold
0.197 / 0.429, held-out 0.248 / 0.447, held-out 2 0.303 / 0.392, Recognizers 0.165 / 0.265.
Throughput 3,301 articles per CPU second (docs/dates.md). Raising a floor is a deliberate commit.
"""

import pytest

from eval.dates import benchmark, evaluate_set, load_article_texts

FLOORS = {
    "gold": {"exact_f1": 0.96, "overlap_f1": 0.98, "value_accuracy": 0.95},
    "heldout": {"exact_f1": 0.93, "overlap_f1": 0.97, "value_accuracy": 0.95},
    "heldout2": {"exact_f1": 0.98, "overlap_f1": 0.98, "value_accuracy": 0.95},
    "recognizers": {"exact_f1": 0.78, "overlap_f1": 0.92, "value_accuracy": 0.85},
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
