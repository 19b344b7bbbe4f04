"""CRF features: the cached, model-filtered tagging path gives what the full training path gives."""

import pycrfsuite
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_SEED as SEED
from transforms.entities import MODEL_FILE, EntityTagger, default_tagger
from transforms.entities_features import (
    TYPES,
    CrfFeatures,
    longest_matches,
    sentence_bounds,
    sentences_of,
    token_columns,
    token_starts,
    token_words,
    tokenize,
)

SENTENCES = [
    "قال الرئيس الأمريكي دونالد ترامب إن منظمة شنغهاي للتعاون ومجلس الأمن الدولي اجتمعا في الأمم المتحدة .",
    "وصل وزير الخارجية الروسي سيرغي لافروف إلى بكين وللأمم المتحدة بيان | عن كوريا الجنوبية",
    "| | الصين || روسيا | 2022 ٢٥٪",
    "بوتين",
]

WORDS = st.lists(
    st.sampled_from(["|", "||", "في", "الأمم", "المتحدة", "روسيا", "وروسيا", "الصين", "قال", "ترامب", "،", "."]),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return default_tagger()


def seed_sentences() -> list[list[str]]:
    text = SEED.read_text(encoding="utf-8")
    return [[token.text for token in sentence] for sentence in sentences_of(tokenize(text), text)]


def test_tagging_items_are_the_known_training_features_in_order(tagger):
    known = tagger.features.known
    assert known is not None and "bias" in known
    for words in [sentence.split(" ") for sentence in SENTENCES] + seed_sentences():
        full = tagger.lexicon.sentence_features(words)
        filtered = [list(item) for item in tagger.features.items(tagger.lexicon.analyse(words))]
        assert filtered == [[known[f] for f in item if f in known] for item in full]


@settings(max_examples=100, deadline=None)
@given(WORDS, st.integers(min_value=0, max_value=2**32))
def test_any_known_subset_is_kept_exactly(words, seed):
    lexicon = default_tagger().lexicon
    full = lexicon.sentence_features(words)
    every = sorted({f for item in full for f in item})
    known = {f: k + 1 for k, f in enumerate(every) if (seed >> (k % 32)) & 1}
    items = [list(item) for item in CrfFeatures(lexicon, known).items(lexicon.analyse(words))]
    assert items == [[known[f] for f in item if f in known] for item in full]


def test_filtered_features_give_crfsuites_labels(tagger):
    crf = pycrfsuite.Tagger()
    crf.open(str(MODEL_FILE))
    for words in [sentence.split(" ") for sentence in SENTENCES] + seed_sentences():
        full = tagger.lexicon.sentence_features(words)
        assert tagger.label_words(words, rules=False) == crf.tag(full)


def test_feature_layout_of_a_short_sentence(tagger):
    items = tagger.lexicon.sentence_features(["زار", "بوتين", "الصين"])
    middle = items[1]
    assert middle[0] == "bias" and "w=بوتين" in middle
    assert middle.index("w[-2]=<pad>") < middle.index("w[-1]=زار") < middle.index("w[1]=الصين")
    assert middle[-2:] == ["w[-1:0]=زار|بوتين", "w[0:1]=بوتين|الصين"]
    assert "gaz=LOC-B" in items[2] and "gaz=LOC-B@1" in middle


def test_one_gazetteer_pass_matches_the_per_type_scan(tagger):
    lexicon = tagger.lexicon
    for words in [sentence.split(" ") for sentence in SENTENCES] + seed_sentences():
        sentence = lexicon.analyse(words)
        forms = sentence.forms
        assert sentence.gazetteer_spans() == longest_matches(lexicon.gazetteers, forms)
        for i in range(len(forms)):
            expected = tuple(lexicon.gazetteers[type_].match_at(forms, i) for type_ in TYPES)
            assert sentence.matches.get(i, (0, 0, 0)) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ابت ثج.؟!\n\u200e1٢,%|")), max_size=300))
def test_token_columns_and_sentence_bounds_match_tokenize(text):
    tokens = tokenize(text)
    words, starts, ends = token_columns(text)
    assert [(t.text, t.start, t.end) for t in tokens] == list(zip(words, starts, ends, strict=True))
    assert token_words(text) == words
    assert token_starts(text) == starts
    bounds = sentence_bounds(text, words, starts, ends)
    assert [tokens[first:last] for first, last in bounds] == sentences_of(tokens, text)


def test_nationality_lookup_is_cached_and_consistent(tagger):
    lexicon = tagger.lexicon
    words = ["الصيني", "روسيين", "قال", "الصيني"]
    assert lexicon.countries_of(words) == [(0, "الصين"), (1, "روسيا"), (3, "الصين")]
    assert lexicon.country_of("قال") is None and lexicon.country_of("الصيني") == "الصين"
