"""The one access decision: consuming domains, restricted (PII) columns, people's roles, mesh checks."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from data_mesh.contract.policies import check_mesh
from data_mesh.contract.spec import Access
from data_mesh.governance.access import Principal, decide, domain_decision, may_read_restricted
from tests.unit.quality.test_conform import SPEC, make_spec

ORDERS = replace(SPEC, access=Access(readers=("finance",), restricted_readers=("finance",)))
ALL = ORDERS.column_names
UNRESTRICTED = tuple(c for c in ALL if c not in ORDERS.restricted_columns)


def test_owning_domain_and_listed_readers_may_read():
    assert domain_decision(ORDERS, "sales", ALL).allowed
    assert domain_decision(ORDERS, "finance", ALL).allowed


def test_a_domain_not_among_the_readers_is_refused_with_the_reason():
    decision = domain_decision(ORDERS, "hr", UNRESTRICTED)
    assert not decision.allowed and "'hr' is not among the readers ['finance']" in decision.reason


def test_restricted_columns_need_the_restricted_domains_grant():
    everyone = replace(ORDERS, access=Access(readers=("*",), restricted_readers=("finance",)))
    assert domain_decision(everyone, "marketing", UNRESTRICTED).allowed
    refused = domain_decision(everyone, "marketing", ("order_id", "customer_email"))
    assert not refused.allowed
    assert "customer_email" in refused.reason and "restrictedDomains" in refused.reason
    assert domain_decision(everyone, "finance", ("customer_email",)).allowed


def test_people_need_an_admin_or_op_role_for_restricted_columns():
    viewer = Principal.for_user(SimpleNamespace(get_name=lambda: "vic", role="viewer"))
    admin = Principal.for_user(SimpleNamespace(get_name=lambda: "ada", roles=[SimpleNamespace(name="Admin")]))
    assert decide(ORDERS, viewer, UNRESTRICTED).allowed
    refused = decide(ORDERS, viewer, ALL)
    assert not refused.allowed and "customer_email" in refused.reason
    assert decide(ORDERS, admin, ALL).allowed
    assert may_read_restricted(admin) and not may_read_restricted(viewer)


def test_a_task_is_judged_by_its_domain_not_by_roles():
    task = replace(Principal.for_task("hr__x", "t", "hr"), roles=frozenset({"admin"}))
    assert not decide(ORDERS, task, UNRESTRICTED).allowed


def test_a_decision_cannot_be_tested_for_truth():
    """(allowed, reason) used to be a tuple, always true: the mesh check never fired."""
    with pytest.raises(TypeError):
        bool(domain_decision(ORDERS, "hr"))


def test_check_mesh_refuses_an_input_the_consumer_may_not_read():
    consumer = replace(make_spec(*SPEC.columns, name="report"), domain="hr", inputs=(ORDERS.id,))
    problems = check_mesh({ORDERS.id: ORDERS, consumer.id: consumer})
    reason = "sales.customer_orders: domain 'hr' is not among the readers ['finance']"
    assert problems == [("hr.report", "customProperties.inputs", reason)]
    allowed = replace(consumer, domain="finance")
    assert check_mesh({ORDERS.id: ORDERS, allowed.id: allowed}) == []
