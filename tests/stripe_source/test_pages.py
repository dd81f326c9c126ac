"""List pages decoded to ids, ``created`` and each object's JSON text, objects on demand."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from flitch.stripe_source.pages import ListPage, NotAListPage

OBJECTS = [
    {"id": "ch_2", "object": "charge", "created": 1700000002, "amount": 5, "metadata": {}},
    {"id": "ch_1", "object": "charge", "created": 1700000001, "note": "é \u2028 ☃"},
]


def test_a_page_gives_ids_created_and_the_text_of_each_object() -> None:
    # Stripe indents its answers: the text of each object is taken as it is
    body = orjson.dumps(
        {"object": "list", "data": OBJECTS, "has_more": True, "url": "/v1/charges"},
        option=orjson.OPT_INDENT_2,
    )
    page = ListPage.decode(body)
    assert (page.ids, page.created, page.has_more) == (
        ["ch_2", "ch_1"],
        [1700000002, 1700000001],
        True,
    )
    assert len(page) == 2
    assert [orjson.loads(raw) for raw in page.raw_json()] == OBJECTS
    assert b"\n" in page.raw_json()[0]
    assert list(page) == OBJECTS
    assert page[1]["note"] == OBJECTS[1]["note"]


def test_objects_without_id_or_created_are_kept_and_flagged_by_none() -> None:
    page = ListPage.decode(b'{"data": [{"x": 1}, {"id": 7}], "has_more": false}')
    assert (page.ids, page.created) == ([None, 7], [None, None])
    assert not page.has_more


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"message": "x"}}',
        b'{"data": {}, "has_more": false}',
        b"[1]",
        b'{"data": []}',
        b'{"data": ["ch_1"], "has_more": false}',
    ],
)
def test_json_of_another_shape_is_not_a_list_page(body: bytes) -> None:
    with pytest.raises(NotAListPage):
        ListPage.decode(body)


def test_a_body_cut_short_is_a_decode_error() -> None:
    body = orjson.dumps({"data": OBJECTS, "has_more": False})
    with pytest.raises(msgspec.DecodeError):
        ListPage.decode(body[: len(body) // 2])


def test_a_page_built_from_objects() -> None:
    page = ListPage.of(OBJECTS, has_more=True)
    assert page.ids == ["ch_2", "ch_1"]
    assert page[0] is OBJECTS[0]
    assert [orjson.loads(r) for r in page.raw_json()] == OBJECTS
