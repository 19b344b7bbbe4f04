"""Entity tagger: offsets, canonical names, facets and the seed article's acceptance list."""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_SEED as SEED
from transforms.entities import EntityTagger, bio_spans, default_tagger, facets, tag_entities
from transforms.entities_features import proclitic_splits, tokenize

SEED_NAMES = [
    "شي جين بينغ",
    "فلاديمير بوتين",
    "دونالد ترامب",
    "يوري أوشاكوف",
    "كيم جونغ أون",
    "الصين",
    "روسيا",
    "موسكو",
    "بكين",
    "أوكرانيا",
    "واشنطن",
    "كوريا الجنوبية",
    "مجلس الأمن الدولي",
    "الأمم المتحدة",
    "منظمة شنغهاي للتعاون",
    "بريكس",
    "شينخوا",
    "الكرملين",
    "البيت الأبيض",
]

ARABIC_TEXT = st.text(
    alphabet=st.sampled_from(
        list("ابتثجحخدذرسشصضطظعغفقكلمنهويءأإآىةؤئ ،؛؟.!«»\"'()-–—/:0123456789٠١٢٣\u064e\u0651\n\u200e")
    ),
    max_size=200,
)


@pytest.fixture(scope="module")
def seed_text() -> str:
    header, _, body = SEED.read_text(encoding="utf-8").partition(" date 2026-02-04 ")
    assert header == ""
    return body


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return default_tagger()


def test_tokens_keep_offsets_and_split_arabic_punctuation():
    text = "قال الرئيس، شي جين بينغ: «نعم»؟ (في 2022/02) - ٢٥٪ و1.5 مليار"
    tokens = tokenize(text)
    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert [t.text for t in tokens][:8] == ["قال", "الرئيس", "،", "شي", "جين", "بينغ", ":", "«"]
    assert {"؟", "٢٥٪", "و1.5", "2022", "/"} <= {t.text for t in tokens}


@settings(max_examples=200, deadline=None)
@given(ARABIC_TEXT)
def test_annotation_offsets_always_match_the_text(text):
    for ann in tag_entities(text):
        assert text[ann["start"] : ann["end"]] == ann["text"]
        assert ann["type"] in {"PER", "ORG", "LOC", "MISC"}
        assert ann["canonical"]


def test_seed_article_offsets(tagger, seed_text):
    annotations = tagger.tag(seed_text)
    assert annotations
    for ann in annotations:
        assert seed_text[ann["start"] : ann["end"]] == ann["text"]


def test_seed_article_finds_the_acceptance_names(tagger, seed_text):
    found = facets(tagger.tag(seed_text), seed_text)
    names = {name for facet, values in found.items() if facet != "countries_mentioned" for name in values}
    assert [name for name in SEED_NAMES if name not in names] == []
    assert {"دونالد ترامب", "فلاديمير بوتين", "شي جين بينغ"} <= set(found["persons"])
    assert "ترمب" not in names and "بوتين" not in names and "شي" not in names
    assert {"الصين", "روسيا", "الولايات المتحدة"} <= set(found["countries_mentioned"])


def test_clitics_are_stripped_from_span_and_canonical(tagger, seed_text):
    annotations = tagger.tag(seed_text)
    russia = [a for a in annotations if a["canonical"] == "روسيا"]
    assert len(russia) >= 5
    assert {a["text"] for a in russia} == {"روسيا"}
    with_conjunction = seed_text.index("وروسيا")
    assert any(a["start"] == with_conjunction + 1 for a in russia)


def test_variants_and_short_forms_share_one_canonical_name(tagger):
    text = (
        "التقى الرئيس الأمريكي دونالد ترمب بالرئيس الروسي فلاديمير بوتن في هلسنكي. "
        "وقال ترامب إن بوتين وافق على الحوار، بحسب صحيفة نيويورك تايمس."
    )
    annotations = tagger.tag(text)
    persons = {a["text"]: a["canonical"] for a in annotations if a["type"] == "PER"}
    assert persons.get("ترامب") == "دونالد ترامب"
    assert persons.get("بوتين") == "فلاديمير بوتين"
    assert set(persons.values()) == {"دونالد ترامب", "فلاديمير بوتين"}


def test_variant_table_merges_newspaper_spellings(tagger):
    text = "وقال مراسل صحيفة نيويورك تايمس في واشنطن إن الرئيس دونالد ترمب التقى بوتن."
    canonical = {a["text"]: a["canonical"] for a in tagger.tag(text)}
    assert canonical["نيويورك تايمس"] == "نيويورك تايمز"
    assert canonical["ترمب"] == "ترامب"
    assert canonical["بوتن"] == "بوتين"


def test_lam_lam_gives_back_the_article(tagger):
    text = "وللأمم المتحدة دور في وقف الحرب، وقال الأمين العام للأمم المتحدة إن الحل سياسي"
    found = [(a["start"], a["text"], a["canonical"]) for a in tagger.tag(text)]
    # The conjunction leaves the span; the ل stays, since it now stands for the article's alef.
    assert found == [(1, "للأمم المتحدة", "الأمم المتحدة"), (51, "للأمم المتحدة", "الأمم المتحدة")]
    assert ("ول", "الامم") in proclitic_splits("وللامم")


def test_names_starting_with_clitic_letters_are_kept(tagger):
    text = "وصل الوزير إلى واشنطن وبكين ثم فيينا"
    found = [(a["text"], a["canonical"]) for a in tagger.tag(text)]
    assert found == [("واشنطن", "واشنطن"), ("بكين", "بكين"), ("فيينا", "فيينا")]


def test_countries_mentioned_from_nationality_adjectives(tagger):
    text = "أعلنت وزارة الخارجية الصينية أن دبلوماسيين روسيين وأمريكيين اجتمعوا مع السفير الياباني."
    found = facets(tagger.tag(text), text)
    assert found["countries_mentioned"][:1] == ["الصين"]
    assert {"الصين", "روسيا", "الولايات المتحدة", "اليابان"} <= set(found["countries_mentioned"])
    assert "الصين" not in found["locations"]


def test_facets_are_unique_and_typed():
    annotations = [
        {"text": "روسيا", "start": 0, "end": 5, "type": "LOC", "canonical": "روسيا"},
        {"text": "لروسيا", "start": 10, "end": 16, "type": "LOC", "canonical": "روسيا"},
        {"text": "بوتين", "start": 20, "end": 25, "type": "PER", "canonical": "فلاديمير بوتين"},
        {"text": "الكرملين", "start": 30, "end": 38, "type": "ORG", "canonical": "الكرملين"},
    ]
    assert facets(annotations) == {
        "persons": ["فلاديمير بوتين"],
        "organizations": ["الكرملين"],
        "locations": ["روسيا"],
        "misc": [],
        "countries_mentioned": ["روسيا"],
    }


def test_bio_spans_reads_stray_inside_tags_as_new_entities():
    assert bio_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-ORG", "I-PER"]) == [
        (0, 2, "PER"),
        (3, 5, "LOC"),
        (5, 6, "ORG"),
        (6, 7, "PER"),
    ]


def test_sentence_rules_leave_repeats_to_the_document_rule(tagger):
    words = "الرئيس الأمريكي دونالد ترمب وقال إن الرسوم التي فرضها ترمب العام الماضي مرتفعة".split(" ")
    sentence_rules = tagger.label_words(words)
    assert sentence_rules[2:4] == ["B-PER", "I-PER"] and sentence_rules[9] == "O"
    assert tagger.label_document([words])[0][9] == "B-PER"  # the bare repeat of ترمب


def test_tagger_pickles_for_beam_workers(tagger, seed_text):
    clone = pickle.loads(pickle.dumps(tagger))
    assert clone.tag(seed_text[:600]) == tagger.tag(seed_text[:600])


def test_empty_and_non_arabic_text(tagger):
    assert tagger.tag("") == []
    assert tagger.tag("   \n\u200e ") == []
    assert all(a["canonical"] for a in tagger.tag("Reuters said 2022."))


def test_short_forms_resolve_within_type_and_article(tagger):
    text = "فاز أتلتيكو مدريد على أرسنال، وقال مدرب أتلتيكو إن مدريد احتفلت."
    spans = [("أتلتيكو مدريد", "ORG"), ("أرسنال", "ORG"), ("أتلتيكو", "ORG"), ("مدريد", "LOC")]
    found, position = [], 0
    for surface, type_ in spans:
        start = text.index(surface, position)
        position = start + len(surface)
        found.append((start, position, type_))
    canonical = [name for _, _, _, name in tagger.core.canonicalize(text, found)]
    assert canonical == ["أتلتيكو مدريد", "أرسنال", "أتلتيكو مدريد", "مدريد"]
