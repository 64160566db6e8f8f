"""Type, required-ness, key and partition inference from a sample, edge cases first."""

from __future__ import annotations

import pytest

from data_mesh.scaffold.infer import column_name, flatten, infer


def _col(records, field, **kw):
    return next(c for c in infer(records, **kw).columns if c.field == field)


def _rows(**columns):
    """Records with a `day` partition field and an `id`, plus the given column values (one per row)."""
    n = len(next(iter(columns.values())))
    rows = [{"id": f"r-{i}", "day": "2026-11-20"} for i in range(n)]
    for name, values in columns.items():
        for row, value in zip(rows, values, strict=True):
            if value is not _MISSING:
                row[name] = value
    return rows


_MISSING = object()


@pytest.mark.parametrize(
    ("values", "logical", "encoding"),
    [
        ([1, 2, 3], "integer", "json"),
        ([1, 2.5, 3], "number", "json"),
        ([True, False], "boolean", "json"),
        ([True, 1], "string", "json"),  # a boolean is no integer: a mix is text
        (["12.50", "0.99"], "number", "text"),  # money sent as text
        (["007", "010"], "string", "json"),  # digit codes keep their zeros
        (["true", "FALSE"], "boolean", "text"),
        (["2026-11-20", "2026-02-28"], "date", "text"),
        (["2026-11-20T10:00:00Z", "2026-11-20 10:00:00.123+01:00"], "timestamp", "text"),
        (["2026-11-20", "2026-11-20T10:00:00Z"], "string", "json"),  # a mix is not one type
        (["2026-13-45", "2026-11-20"], "string", "json"),  # looks like a date, is none
        (["abc", 3], "string", "json"),
    ],
)
def test_types(values, logical, encoding):
    col = _col(_rows(v=values), "v")
    assert (col.logical_type, col.encoding) == (logical, encoding)


def test_required_means_present_and_non_null_in_every_row():
    assert _col(_rows(v=[1, 2]), "v").required
    assert not _col(_rows(v=[1, None]), "v").required
    missing = _col(_rows(v=[1, _MISSING]), "v")
    assert not missing.required and missing.logical_type == "integer"  # ints with a gap stay ints


def test_a_field_null_in_every_row_is_an_optional_string():
    col = _col(_rows(v=[None, None]), "v")
    assert (col.logical_type, col.required, col.optional) == ("string", False, True)


def test_nested_objects_are_dotted_fields_and_arrays_are_skipped():
    rows = [
        {"id": "a", "day": "2026-11-20", "total": {"amount": "1.50", "currency": "USD"}, "tags": ["x"]},
        {"id": "b", "day": "2026-11-20", "total": None, "tags": []},
    ]
    inference = infer(rows)
    fields = [c.field for c in inference.columns]
    assert fields == ["id", "day", "total.amount", "total.currency"]  # `total` itself is no column
    assert inference.column("total_amount").logical_type == "number"
    assert not inference.column("total_amount").required
    assert inference.skipped == ("tags (array or empty object: no column type)",)
    assert flatten({"a": {"b": {"c": 1}}, "d": {}}) == {"a.b.c": 1, "d": {}}


def test_column_names_are_snake_case_and_never_collide():
    assert column_name("createdAt") == "created_at"
    assert column_name("campaign.id") == "campaign_id"
    assert column_name("2fa-Enabled") == "f_2fa_enabled"
    rows = [{"id": "a", "day": "2026-11-20", "a": {"b": 1}, "a_b": 2}]
    assert [c.name for c in infer(rows).columns] == ["id", "day", "a_b", "a_b_2"]


def test_a_unique_id_like_column_is_the_key():
    inference = infer(_rows(name=["x", "y"]))
    assert inference.primary_key == ("id",)
    assert inference.column("id").pattern == r"^r\-[0-9]+$"


def test_an_id_repeated_per_channel_gives_a_compound_key_led_by_the_partition():
    rows = [
        {"day": "2026-11-20", "campaign": {"id": f"c-{i}", "name": f"n{i}"}, "channel": ch, "clicks": i}
        for i in range(3)
        for ch in ("search", "email")
    ]
    assert infer(rows).primary_key == ("day", "campaign_id", "channel")


def test_no_key_when_nothing_id_like_is_unique():
    rows = [{"day": "2026-11-20", "name": n, "clicks": 1} for n in ("a", "b", "c")]
    assert infer(rows).primary_key == ()  # a unique free-text column is no key


def test_a_timestamp_gives_a_derived_partition_date():
    rows = [{"id": "a", "created_at": "2026-11-20T10:00:00Z"}, {"id": "b", "created_at": None}]
    inference = infer(rows)
    first = inference.columns[0]
    assert (first.name, first.field, first.logical_type, first.derived, first.required) == (
        "created_date", "created_at", "date", True, True,
    )  # fmt: skip
    assert inference.partition_column == "created_date"
    assert inference.column("created_at").logical_type == "timestamp"


def test_the_partition_column_can_be_chosen_and_is_then_required():
    rows = [{"id": "a", "day": "2026-11-20", "booked": "2026-11-19"}, {"id": "b", "day": "2026-11-20"}]
    inference = infer(rows, partition_column="booked")
    assert inference.partition_column == "booked" and inference.column("booked").required


@pytest.mark.parametrize(
    ("records", "kw", "message"),
    [
        ([], {}, "no records"),
        ([{"id": "a", "n": 1}], {}, "no date or timestamp field"),
        ([{"id": "a", "day": "2026-11-20"}], {"partition_column": "id"}, "is string in the sample"),
        ([{"id": "a", "day": "2026-11-20"}], {"partition_column": "nope"}, "no field of the sample"),
    ],
)
def test_what_cannot_be_inferred_is_a_clear_error(records, kw, message):
    with pytest.raises(ValueError, match=message):
        infer(records, **kw)


def test_categorical_text_gets_its_value_set_and_ids_their_shape():
    rows = [{"id": f"o-{i}", "day": "2026-11-20", "status": ("a", "b")[i % 2]} for i in range(60)]
    inference = infer(rows)
    assert inference.column("status").values == ("a", "b")
    assert inference.column("status").pattern is None  # only id-like columns get a shape
    few = infer(rows[:10])
    assert few.column("status").values == ()  # too few rows to tell a category
