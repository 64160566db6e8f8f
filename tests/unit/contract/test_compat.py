"""Every change to a published contract is classified: compatible changes pass, breaking ones do not."""

from __future__ import annotations

import dataclasses

import pytest

from data_mesh.contract import compat
from data_mesh.contract.registry import get_product
from data_mesh.contract.spec import Partitioning


def orders():
    return get_product("sales.customer_orders")


def with_column(spec, name, **changes):
    columns = tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in spec.columns)
    return dataclasses.replace(spec, columns=columns)


def kinds(old, new) -> list[tuple[str, str | None, bool]]:
    return [(c.kind, c.column, c.breaking) for c in compat.changes(old, new)]


def test_an_unchanged_contract_has_no_change():
    assert compat.changes(orders(), orders()) == [] and compat.gate(orders(), orders()) == []


def test_compatible_changes_pass_the_gate():
    old = orders()
    extra = dataclasses.replace(old.columns[-1], name="discount", required=False, logical_type="number")
    new = dataclasses.replace(old, columns=(*old.columns, extra))
    new = with_column(new, "items", logical_type="number")  # integer -> number: widened
    new = with_column(new, "region", required=False)  # no longer required
    new = with_column(new, "customer_country", classification="public")  # less restricted
    assert kinds(old, new) == [  # in column order
        ("classification", "customer_country", False),
        ("required", "region", False),
        ("type-changed", "items", False),
        ("column-added", "discount", False),
    ]
    assert compat.gate(old, new) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: dataclasses.replace(s, columns=s.columns[:-1]), ("column-removed", "items")),
        (lambda s: with_column(s, "amount", logical_type="integer"), ("type-changed", "amount")),
        (lambda s: with_column(s, "customer_country", required=True), ("required", "customer_country")),
        (lambda s: with_column(s, "region", classification="confidential"), ("classification", "region")),
        (lambda s: with_column(s, "customer_id", primary_key=True), ("primary-key", None)),
        (
            lambda s: dataclasses.replace(s, partitioning=Partitioning("order_date", "month")),
            ("partitioning", "order_date"),
        ),
        (
            lambda s: dataclasses.replace(
                s, columns=(*s.columns, dataclasses.replace(s.columns[0], name="channel", primary_key=False))
            ),
            ("column-added", "channel"),  # a new column that is required
        ),
    ],
)
def test_breaking_changes_are_refused_even_with_a_major_bump_in_place(change, expected):
    old = orders()
    new = change(old)
    [breaking] = compat.gate(old, new)
    assert (breaking.kind, breaking.column) == expected and breaking.breaking
    assert compat.gate(old, dataclasses.replace(new, version="2.0.0")) == [
        breaking
    ]  # a new major: a new product


def test_major_versions_and_major_suffixed_names():
    assert compat.major("2.1.0") == 2 and compat.major("v3") == 3 and compat.major("draft") == 0
    v2 = dataclasses.replace(orders(), name="customer_orders_v2", version="2.0.0")
    assert compat.major_matches_name(v2) is None
    assert "version must be 2.x.y" in compat.major_matches_name(dataclasses.replace(v2, version="1.3.0"))
    assert compat.major_matches_name(orders()) is None
