"""CRF features as training builds them: their layout, and the gazetteer pass they read."""

import pytest

from tests.conftest import SHARED_SEED as SEED
from transforms.entities import EntityTagger, default_tagger
from transforms.entities_features import TYPES, sentences_of, tokenize

SENTENCES = [
    "قال الرئيس الأمريكي دونالد ترامب إن منظمة شنغهاي للتعاون ومجلس الأمن الدولي اجتمعا في الأمم المتحدة .",
    "وصل وزير الخارجية الروسي سيرغي لافروف إلى بكين وللأمم المتحدة بيان | عن كوريا الجنوبية",
    "| | الصين || روسيا | 2022 ٢٥٪",
    "بوتين",
]


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return default_tagger()


def seed_sentences() -> list[list[str]]:
    text = SEED.read_text(encoding="utf-8")
    return [[token.text for token in sentence] for sentence in sentences_of(tokenize(text), text)]


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
        for i in range(len(forms)):
            expected = tuple(lexicon.gazetteers[type_].match_at(forms, i) for type_ in TYPES)
            assert sentence.matches.get(i, (0, 0, 0)) == expected
