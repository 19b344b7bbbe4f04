"""The native entity tagger (``transforms._native``) against crfsuite on the Python features.

Training builds the features as strings in Python (``Lexicon.sentence_features``); tagging builds
them as model ids in Rust. These tests hold the native labels to what pycrfsuite's own tagger
gives on the Python features, on hand-made sentences, the seed article, random word lists and a
slice of the shared corpus, and its Viterbi to crfsuite's on models full of ties.
"""

import json
import random
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pycrfsuite
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_CORPUS, SHARED_SEED
from transforms import _native, entities
from transforms.entities import MODEL_FILE, Annotation, EntityTagger, default_tagger
from transforms.entities_features import Lexicon, sentences_of, tokenize

T = TypeVar("T")

SENTENCES = [
    "قال الرئيس الأمريكي دونالد ترامب إن منظمة شنغهاي للتعاون ومجلس الأمن الدولي اجتمعا في الأمم المتحدة .",
    "وصل وزير الخارجية الروسي سيرغي لافروف إلى بكين وللأمم المتحدة بيان | عن كوريا الجنوبية",
    "| | الصين || روسيا | 2022 ٢٥٪",
    "بوتين",
]

WORDS = st.lists(
    st.sampled_from(
        ["|", "||", "في", "الأمم", "المتحدة", "روسيا", "وروسيا", "الصين", "قال", "ترامب", "،", ".", "Putin", "٢٠٢٢"]
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def crfsuite() -> pycrfsuite.Tagger:
    tagger = pycrfsuite.Tagger()
    tagger.open(str(MODEL_FILE))
    return tagger


def sentences_of_text(text: str) -> list[list[str]]:
    return [[token.text for token in sentence] for sentence in sentences_of(tokenize(text), text)]


def sentences() -> list[list[str]]:
    return [sentence.split(" ") for sentence in SENTENCES] + sentences_of_text(SHARED_SEED.read_text(encoding="utf-8"))


def corpus_texts(count: int) -> list[str]:
    with SHARED_CORPUS.open(encoding="utf-8") as lines:
        rows = [json.loads(next(lines)) for _ in range(count)]
    return [text for row in rows for text in (row.get("title") or "", row.get("body") or "") if text]


def test_model_labels_are_crfsuites(crfsuite):
    info = crfsuite.info()
    assert default_tagger().core.labels == sorted(info.labels, key=lambda label: int(info.labels[label]))


def test_labels_are_crfsuites_sentence_by_sentence_and_batched(crfsuite):
    tagger = default_tagger()
    words = sentences()
    expected = [crfsuite.tag(tagger.lexicon.sentence_features(sentence)) for sentence in words]
    assert [tagger.label_words(sentence, rules=False) for sentence in words] == expected
    assert tagger.label_document(words, rules=False) == expected
    assert tagger.label_document([words[0], [], words[2]], rules=False) == [expected[0], [], expected[2]]
    assert len({len(sentence) for sentence in words}) > 3
    assert any(label != "O" for labels in expected for label in labels)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=3))
def test_random_word_lists_get_crfsuites_labels(crfsuite, document):
    tagger = default_tagger()
    expected = [crfsuite.tag(tagger.lexicon.sentence_features(words)) for words in document]
    assert tagger.label_document(document, rules=False) == expected


@pytest.mark.slow
def test_corpus_sentences_get_crfsuites_labels(crfsuite):
    tagger = default_tagger()
    checked = 0
    for text in corpus_texts(150):
        document = sentences_of_text(text)
        expected = [crfsuite.tag(tagger.lexicon.sentence_features(words)) for words in document]
        assert tagger.label_document(document, rules=False) == expected
        checked += sum(map(len, document))
    assert checked > 30_000


def test_a_small_word_cache_is_emptied_without_changing_labels(crfsuite, monkeypatch):
    monkeypatch.setattr(entities, "WORD_CACHE_SIZE", 40)
    tagger = EntityTagger.load()
    words = sentences()
    expected = [crfsuite.tag(tagger.lexicon.sentence_features(sentence)) for sentence in words]
    for _ in range(2):
        assert tagger.label_document(words, rules=False) == expected
        assert [tagger.label_words(sentence, rules=False) for sentence in words] == expected


def test_threads_tag_at_once_with_the_same_results():
    tagger = EntityTagger.load()
    texts = corpus_texts(20)
    expected = [tagger.core.tag(text) for text in texts]
    fresh = EntityTagger.load()  # an empty word cache, filled by both threads at once
    assert in_threads(2, lambda: [fresh.core.tag(text) for text in texts]) == [expected, expected]


def in_threads(count: int, work: Callable[[], T]) -> list[T]:
    """What ``work`` returns in each of ``count`` threads started together."""
    results: list[T] = []
    threads = [threading.Thread(target=lambda: results.append(work())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_tag_later_gives_tags_annotations_job_by_job():
    tagger = EntityTagger.load()
    texts = corpus_texts(12)
    expected = [tagger.tag(text) for text in texts]
    assert sum(map(len, expected)) > 20
    # several jobs queued before any is waited for; then waited for out of order
    later = [tagger.tag_later(texts[k : k + 3]) for k in range(0, len(texts), 3)]
    order = list(range(len(later)))
    random.Random(7).shuffle(order)
    got = {k: later[k]() for k in order}
    assert [annotations for k in range(len(later)) for annotations in got[k]] == expected
    assert tagger.tag_later([])() == []


def test_several_worker_threads_serve_several_callers_with_the_same_results():
    reference = EntityTagger.load()
    texts = corpus_texts(12)
    expected = [reference.tag(text) for text in texts]
    tagger = EntityTagger(MODEL_FILE, Lexicon(), threads=3)  # an empty word cache, filled by all three

    def run() -> list[list[Annotation]]:
        later = [tagger.tag_later([text]) for text in texts]
        return [annotations for take in later for annotations in take()]

    assert in_threads(2, run) == [expected, expected]


def test_pending_mentions_are_taken_once():
    tagger = EntityTagger.load()
    pending = tagger.core.tag_in_background(["قال الرئيس المصري عبد الفتاح السيسي في القاهرة"])
    assert pending.wait() == [tagger.core.tag("قال الرئيس المصري عبد الفتاح السيسي في القاهرة")]
    with pytest.raises(RuntimeError, match="already taken"):
        pending.wait()


def crfsuite_viterbi(scores: list[list[float]], transitions: list[list[float]]) -> list[int]:
    """crfsuite's ``crf1dc_viterbi`` line by line: a new best only on a strictly greater score."""
    n_labels = len(transitions)
    best = [list(scores[0])]
    back: list[list[int]] = [[]]
    for t in range(1, len(scores)):
        current, links = [], []
        for j in range(n_labels):
            top, link = -np.finfo(float).max, 0
            for i in range(n_labels):
                score = best[t - 1][i] + transitions[i][j]
                if top < score:
                    top, link = score, i
            current.append(top + scores[t][j])
            links.append(link)
        best.append(current)
        back.append(links)
    top, label = -np.finfo(float).max, 0
    for i, score in enumerate(best[-1]):
        if top < score:
            top, label = score, i
    path = [label]
    for t in range(len(scores) - 1, 0, -1):
        path.append(back[t][path[-1]])
    return path[::-1]


@pytest.mark.parametrize("seed", range(40))
def test_equal_scores_resolve_as_in_crfsuite(seed):
    # Small integer scores: many equal candidates at every step and at the end.
    rng = random.Random(seed)
    n_labels = rng.randint(1, 5)
    transitions = [[float(rng.randint(-1, 1)) for _ in range(n_labels)] for _ in range(n_labels)]
    scores = [[float(rng.randint(-1, 1)) for _ in range(n_labels)] for _ in range(rng.randint(1, 12))]
    assert _native.viterbi(scores, transitions) == crfsuite_viterbi(scores, transitions)
