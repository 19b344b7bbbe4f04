"""The pipeline records: copies made by ``Article.with_``."""

import dataclasses
import pickle

import pytest

from transforms.records import Article

ARTICLE = Article(
    id="u1",
    source="aljazeera",
    title="عنوان",
    body="نص الخبر",
    origin="articles.jsonl:1",
    fetched_at="2026-11-25T09:00:00+00:00",
    url="https://example.com/a",
    captions=("صورة (رويترز)",),
    facets={"persons": ["بوتين"]},
    notes=("empty body",),
)


@pytest.mark.parametrize(
    "changes",
    [{}, {"title": "عنوان آخر"}, {"body": "", "notes": (), "content_hash": "ab" * 20}, {"dedup": {"cluster_id": "u1"}}],
)
def test_with_makes_the_copy_dataclasses_replace_makes(changes):
    copy = ARTICLE.with_(**changes)
    assert copy == dataclasses.replace(ARTICLE, **changes)
    assert copy is not ARTICLE and type(copy) is Article
    assert list(vars(copy)) == [field.name for field in dataclasses.fields(Article)]
    assert ARTICLE.title == "عنوان" and ARTICLE.notes == ("empty body",)  # the original is untouched


def test_with_rejects_unknown_fields_and_the_copy_stays_frozen():
    with pytest.raises(TypeError, match="no field titel"):
        ARTICLE.with_(titel="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ARTICLE.with_(title="x").title = "y"  # type: ignore[misc]


def test_articles_pickle_to_the_bytes_of_the_default_reduction(monkeypatch):
    article = ARTICLE.with_(dedup={"content_hash": "ab", "bands": ["00-1f"]})
    ours = pickle.dumps(article, pickle.HIGHEST_PROTOCOL)
    monkeypatch.delattr(Article, "__reduce__")
    assert pickle.dumps(article, pickle.HIGHEST_PROTOCOL) == ours
    copy = pickle.loads(ours)
    assert copy == article and type(copy) is Article
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.title = "y"  # type: ignore[misc]
