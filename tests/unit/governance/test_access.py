"""The one access decision: ownership, the contract's roles, access grants, and who gets nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from data_mesh.contract.policies import check_mesh
from data_mesh.contract.spec import Access, RoleGrant
from data_mesh.governance.access import Principal, decide, domain_decision, readable_columns
from data_mesh.metadata.store import AccessRequest
from tests.unit.quality.test_conform import SPEC, make_spec

ORDERS = replace(
    SPEC,
    team=(("alice.sales", "owner"),),
    access=Access.of(
        readers=("finance",),
        restricted_readers=("finance",),
        people=("*",),
        restricted_people=("admin",),
        restricted_columns=("customer_email",),
    ),
)
ALL = ORDERS.column_names
UNRESTRICTED = tuple(c for c in ALL if c not in ORDERS.restricted_columns)
VIEWER = Principal.for_user(SimpleNamespace(get_name=lambda: "vic", role="viewer"))
ADMIN = Principal.for_user(SimpleNamespace(get_name=lambda: "ada", roles=[SimpleNamespace(name="Admin")]))


def grant(requester: str, kind: str = "user", columns=("customer_email",), days: float = 1, **changes):
    now = datetime.now(UTC)
    values = dict(
        id=7,
        product_id=ORDERS.id,
        requester=requester,
        requester_kind=kind,
        requested_by=requester,
        columns=tuple(columns),
        purpose="support",
        duration_days=days,
        status="approved",
        created_at=now,
        decided_by="alice.sales",
        decided_at=now,
        expires_at=now + timedelta(days=days),
    )
    return AccessRequest(**{**values, **changes})


def test_owning_domain_and_team_read_everything():
    assert domain_decision(ORDERS, "sales", ALL).allowed
    alice = Principal(name="alice.sales", kind="user", roles=frozenset({"viewer"}))
    assert decide(ORDERS, alice, ALL).allowed


def test_listed_domain_reads_and_a_domain_not_among_the_readers_is_refused_with_the_reason():
    assert domain_decision(ORDERS, "finance", ALL).allowed
    decision = domain_decision(ORDERS, "hr", UNRESTRICTED)
    assert not decision.allowed and "domain 'hr' is not among the readers" in decision.reason


def test_restricted_columns_need_a_grant_that_names_them():
    everyone = replace(ORDERS, access=Access((RoleGrant("readers", domains=("*",), airflow_roles=("*",)),)))
    assert domain_decision(everyone, "marketing", UNRESTRICTED).allowed
    refused = domain_decision(everyone, "marketing", ("order_id", "customer_email"))
    assert not refused.allowed
    assert "customer_email" in refused.reason and "explicit grant" in refused.reason
    assert not decide(everyone, ADMIN, ["customer_email"]).allowed  # "*" never covers PII


def test_people_by_airflow_role_and_by_name():
    assert decide(ORDERS, VIEWER, UNRESTRICTED).allowed
    refused = decide(ORDERS, VIEWER, ALL)
    assert not refused.allowed and "customer_email" in refused.reason and "'vic'" in refused.reason
    assert decide(ORDERS, ADMIN, ALL).allowed
    by_name = replace(ORDERS, access=Access((RoleGrant("r", users=("vic",), columns=("order_id",)),)))
    assert decide(by_name, VIEWER, ["order_id"]).allowed
    assert not decide(by_name, VIEWER, ["amount"]).allowed
    assert readable_columns(ORDERS, VIEWER) == list(UNRESTRICTED)


def test_a_task_is_judged_by_its_domain_not_by_roles():
    task = replace(Principal.for_task("hr__x", "t", "hr"), roles=frozenset({"admin"}))
    assert not decide(ORDERS, task, UNRESTRICTED).allowed


def test_a_dag_the_platform_did_not_build_matches_no_domain_grant_not_even_everyone():
    everyone = replace(ORDERS, access=Access((RoleGrant("readers", domains=("*",)),)))
    stranger = Principal.for_task("sales__evil", "t", None)
    decision = decide(everyone, stranger, ["order_id"])
    assert not decision.allowed and "did not build" in decision.reason
    assert stranger.requester is None  # and no access request can ever apply to it


def test_an_active_grant_covers_exactly_its_columns_and_is_named_in_the_decision():
    decision = decide(ORDERS, VIEWER, ["order_id", "customer_email"], [grant("vic")])
    assert decision.allowed and decision.grants == (7,) and "#7" in decision.reason
    assert not decide(ORDERS, VIEWER, ALL, [grant("vic", columns=("order_id",))]).allowed


def test_an_expired_or_revoked_grant_allows_nothing():
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert not decide(ORDERS, VIEWER, ["customer_email"], [grant("vic", expires_at=past)]).allowed
    assert not decide(ORDERS, VIEWER, ["customer_email"], [grant("vic", status="revoked")]).allowed
    assert not decide(ORDERS, VIEWER, ["customer_email"], [grant("vic", status="pending")]).allowed


def test_a_decision_cannot_be_tested_for_truth():
    """(allowed, reason) used to be a tuple, always true: the mesh check never fired."""
    with pytest.raises(TypeError):
        bool(domain_decision(ORDERS, "hr"))


def test_check_mesh_refuses_an_input_the_consumer_may_not_read():
    consumer = replace(make_spec(*SPEC.columns, name="report"), domain="hr", inputs=(ORDERS.id,))
    [(product, field, reason)] = check_mesh({ORDERS.id: ORDERS, consumer.id: consumer})
    assert (product, field) == ("hr.report", "customProperties.inputs")
    assert reason.startswith("sales.customer_orders: domain 'hr' is not among the readers")
    allowed = replace(consumer, domain="finance")
    assert check_mesh({ORDERS.id: ORDERS, allowed.id: allowed}) == []
