"""Quality gate for duplicate detection: floors pinned just below the measured scores.

Measured on 2026-11-25 with config/dedup.yaml (3-shingles, 128 permutations, 42x3 bands,
containment >= 0.5): all pairs P=0.961 R=0.982; corpus subset P=0.872 R=0.949; synthetic
R=0.995; whole corpus 910 clusters with more than one article. Raising a floor is a
deliberate commit.
"""

import pytest

from eval.dedup import dedup_corpus, evaluate_pairs, load_articles
from transforms.dedup import load_config

FLOORS = {
    "all": {"precision": 0.95, "recall": 0.97},
    "corpus": {"precision": 0.86, "recall": 0.93},
    "synthetic": {"precision": 1.0, "recall": 0.99},
    "topic": {"precision": 1.0, "recall": 1.0},
}


@pytest.fixture(scope="module")
def articles():
    return load_articles()


@pytest.fixture(scope="module")
def report(articles):
    return evaluate_pairs(articles, load_config())


def test_all_pairs_above_floor(report):
    assert report["at_threshold"]["precision"] >= FLOORS["all"]["precision"]
    assert report["at_threshold"]["recall"] >= FLOORS["all"]["recall"]


@pytest.mark.parametrize("name", ["corpus", "synthetic", "topic"])
def test_each_pair_set_above_floor(report, name):
    scores = report["by_set"][name]
    assert scores["precision"] >= FLOORS[name]["precision"], scores
    assert scores["recall"] >= FLOORS[name]["recall"], scores


def test_corpus_cluster_count_stays_in_measured_range(articles):
    summary = dedup_corpus(articles.values(), load_config())
    assert summary["articles"] == 11448
    assert 850 <= summary["multi_article_clusters"] <= 960, summary
    assert summary["largest_cluster"] <= 25, summary
