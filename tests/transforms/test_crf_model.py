"""The numpy CRF scorer: the model file read whole, and crfsuite's labels, ties included."""

import random

import numpy as np
import pycrfsuite
import pytest

from tests.conftest import SHARED_SEED as SEED
from transforms import entities_features
from transforms.crf_model import CrfModel
from transforms.entities import MODEL_FILE, EntityTagger, default_tagger
from transforms.entities_features import IdFeatures, sentences_of, tokenize

SENTENCES = [
    "قال الرئيس الأمريكي دونالد ترامب إن منظمة شنغهاي للتعاون ومجلس الأمن الدولي اجتمعا في الأمم المتحدة .",
    "وصل وزير الخارجية الروسي سيرغي لافروف إلى بكين",
    "بوتين",
    "| | الصين || روسيا | 2022 ٢٥٪",
]


@pytest.fixture(scope="module")
def crfsuite() -> pycrfsuite.Tagger:
    tagger = pycrfsuite.Tagger()
    tagger.open(str(MODEL_FILE))
    return tagger


def sentences() -> list[list[str]]:
    text = SEED.read_text(encoding="utf-8")
    seed = [[token.text for token in sentence] for sentence in sentences_of(tokenize(text), text)]
    return [sentence.split(" ") for sentence in SENTENCES] + seed


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


def test_model_file_reads_as_crfsuite_dumps_it(crfsuite):
    model = CrfModel.load(MODEL_FILE)
    info = crfsuite.info()
    assert model.labels == sorted(info.labels, key=lambda label: int(info.labels[label]))
    assert model.attributes == {name: int(i) + 1 for name, i in info.attributes.items()}
    assert not model.weights[0].any()  # the padding id
    assert np.count_nonzero(model.weights) == len(info.state_features)
    labels = {label: int(i) for label, i in info.labels.items()}
    for (attribute, label), weight in info.state_features.items():  # the dump prints 6 decimals
        assert model.weights[model.attributes[attribute], labels[label]] == pytest.approx(weight, abs=1e-6)
    for (before, after), weight in info.transitions.items():
        assert model.transitions[labels[before], labels[after]] == pytest.approx(weight, abs=1e-6)


def test_labels_are_crfsuites_sentence_by_sentence_and_batched(crfsuite):
    tagger = default_tagger()
    words = sentences()
    expected = [crfsuite.tag(tagger.lexicon.sentence_features(sentence)) for sentence in words]
    assert [tagger.label_words(sentence, rules=False) for sentence in words] == expected
    assert tagger.label_document(words, rules=False) == expected
    assert tagger.label_document([words[0], [], words[2]], rules=False) == [expected[0], [], expected[2]]
    assert len({len(sentence) for sentence in words}) > 3
    assert any(label != "O" for labels in expected for label in labels)


def test_word_tables_grow_and_are_forgotten_without_changing_labels(crfsuite, monkeypatch):
    monkeypatch.setattr(entities_features, "WORD_CACHE_SIZE", 40)
    monkeypatch.setattr(IdFeatures, "first_rows", 2)
    tagger = EntityTagger.load()
    words = sentences()
    expected = [crfsuite.tag(tagger.lexicon.sentence_features(sentence)) for sentence in words]
    for _ in range(2):
        assert tagger.label_document(words, rules=False) == expected
        assert [tagger.label_words(sentence, rules=False) for sentence in words] == expected
    assert len(tagger.features._rows) < 40 + sum(map(len, words))


def sequential_sum(weights: np.ndarray, ids: list[int]) -> list[float]:
    row = [0.0] * weights.shape[1]
    for attribute in ids:
        for label in range(weights.shape[1]):
            row[label] += float(weights[attribute, label])
    return row


def test_document_rows_are_the_items_in_order_and_score_as_crfsuite_adds():
    tagger = default_tagger()
    model, lexicon, features = tagger.model, tagger.lexicon, tagger.features
    analysed = [lexicon.analyse(words) for words in sentences()]
    for batch in [analysed, *([sentence] for sentence in analysed)]:
        first, ids = features.document(batch)
        items = [item for sentence in batch for item in features.items(sentence)]
        words = [word for sentence in batch for word in sentence.words]
        expected = []
        for t, (word, item) in enumerate(zip(words, items, strict=True)):
            head = len(features.render(("bias", *lexicon.word_features(word, lexicon.entry(word))[0])))
            assert ids[t][ids[t] != 0].tolist() == list(item[head:])
            assert first[t].tolist() == sequential_sum(model.weights, item[:head])
            expected.append(sequential_sum(model.weights, item))
        assert model.scores(first, ids).tolist() == expected  # the same doubles, not approximately


@pytest.mark.parametrize("seed", range(20))
def test_equal_scores_resolve_as_in_crfsuite(seed):
    # Small integer weights: many equal candidates at every step and at the end.
    rng = random.Random(seed)
    n_labels, n_attributes = 4, 6
    weights = np.array([[0] * n_labels] + [[rng.randint(-1, 1) for _ in range(n_labels)] for _ in range(n_attributes)])
    transitions = np.array([[rng.randint(-1, 1) for _ in range(n_labels)] for _ in range(n_labels)])
    model = CrfModel(
        [f"L{i}" for i in range(n_labels)], [f"a{i}" for i in range(n_attributes)], weights * 1.0, transitions * 1.0
    )
    lengths = [rng.randint(1, 9) for _ in range(rng.randint(1, 5))]
    ids = np.array([[rng.randint(0, n_attributes) for _ in range(3)] for _ in range(sum(lengths))])
    first = np.zeros((len(ids), n_labels))
    scores = model.scores(first, ids)
    expected, start = [], 0
    for n in lengths:
        path = crfsuite_viterbi(scores[start : start + n].tolist(), transitions.tolist())
        expected.append([f"L{y}" for y in path])
        start += n
    assert model.tag(first, ids, lengths) == expected
