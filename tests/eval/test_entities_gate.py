"""Quality gate for the entity tagger: F1 floors pinned just below the shipped model's scores.

Measured on 2026-11-25 with ``python -m eval.entities`` on the model in transforms/models/
(CRF + rules, F1): ANERcorp test PER 0.697, ORG 0.575, LOC 0.860, MISC 0.553, overall 0.715
(0.732 without MISC); Wojood overall 0.328; NewsFANE held-out PER 0.706, ORG 0.533, LOC 0.889,
overall 0.738; about 78,000 tokens per CPU second. Full tables in docs/entities.md. Raising a
floor is a deliberate commit; retraining must not lower a score below its floor.
"""

import pytest

from eval.entities import (
    anercorp_test,
    benchmark,
    evaluate,
    heldout_newsfane,
    news_bodies,
    newsfane_gold,
    wojood_test,
)
from transforms.entities import EntityTagger, default_tagger

THREE = ("PER", "ORG", "LOC")

# corpus -> type -> minimum F1 of the shipped tagger (CRF + rules)
FLOORS = {
    "anercorp_test": {"PER": 0.68, "ORG": 0.56, "LOC": 0.85, "MISC": 0.54, "overall": 0.70},
    "anercorp_test_no_misc": {"overall": 0.72},
    "wojood_test": {"overall": 0.31},
    "newsfane_heldout": {"PER": 0.69, "ORG": 0.52, "LOC": 0.88, "overall": 0.72},
}
MIN_TOKENS_PER_CPU_SECOND = 5000


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return default_tagger()


@pytest.fixture(scope="module")
def results(tagger):
    systems = ("crf+rules", "crf", "gazetteer")
    return {
        "anercorp_test": evaluate(tagger, anercorp_test(), (*THREE, "MISC"), systems),
        "anercorp_test_no_misc": evaluate(tagger, anercorp_test(), THREE, systems),
        "wojood_test": evaluate(tagger, wojood_test(), THREE, systems),
        "newsfane_heldout": evaluate(tagger, heldout_newsfane(newsfane_gold()), THREE, systems),
    }


@pytest.mark.parametrize("corpus", sorted(FLOORS))
def test_f1_above_floor(results, corpus):
    scores = results[corpus]["crf+rules"]
    below = {t: round(scores[t]["f1"], 3) for t, floor in FLOORS[corpus].items() if scores[t]["f1"] < floor}
    assert below == {}, (corpus, below, FLOORS[corpus])


@pytest.mark.parametrize("corpus", sorted(FLOORS))
def test_beats_gazetteer_baseline_by_far(results, corpus):
    ours, baseline = results[corpus]["crf+rules"]["overall"], results[corpus]["gazetteer"]["overall"]
    assert ours["f1"] >= baseline["f1"] + 0.15, (corpus, ours, baseline)


def test_rules_do_not_hurt_on_anercorp(results):
    scores = results["anercorp_test"]
    assert scores["crf+rules"]["overall"]["f1"] >= scores["crf"]["overall"]["f1"]


def test_speed_on_one_core(tagger):
    speed = benchmark(news_bodies(100), tagger)
    assert speed["tokens_per_cpu_second"] >= MIN_TOKENS_PER_CPU_SECOND, speed
