"""The trust score: exact figures from known inputs, then measured from real stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from data_mesh.contract import registry
from data_mesh.metadata.trust import TrustInputs, contract_gaps, level_of, product_trust, score

INPUTS = TrustInputs(
    missing=("limitations",),
    elements=11,
    quality_runs=10,
    quality_passed=9,
    slo_attainment=0.8,
    slo_declared=True,
    undocumented=("region", "status"),
    columns=11,
    consumers=1,
    breaking=(),
    policy_errors=(),
    policy_warnings=("sales.daily-partitions (schema: ...)",),
)


def test_the_score_is_the_weighted_sum_of_its_components():
    trust = score("sales.customer_orders", INPUTS)
    points = {c.name: round(c.points, 2) for c in trust.components}
    assert points == {
        "quality": 22.5,  # 25 x 9/10
        "slo": 16.0,  # 20 x 0.8
        "completeness": 13.64,  # 15 x 10/11
        "policies": 11.25,  # 15 x (1 - 0.25 per warning)
        "documented": 8.18,  # 10 x 9/11
        "consumers": 3.33,  # 10 x 1/3
        "breaking": 5.0,
    }
    assert round(trust.score, 1) == 79.9 and trust.level == "silver"
    steps = [(c.name, round(c.gain, 2)) for c in trust.steps]  # the largest gain first
    assert steps == [
        ("consumers", 6.67), ("slo", 4.0), ("policies", 3.75), ("quality", 2.5),
        ("documented", 1.82), ("completeness", 1.36),
    ]  # fmt: skip
    assert "describe the columns region, status" in [c.step for c in trust.steps]
    assert "add to the contract: limitations" in [c.step for c in trust.steps]


def test_blocking_findings_and_pending_breaking_changes_cost_their_whole_weight():
    worse = INPUTS.__class__(
        **{**INPUTS.__dict__, "policy_errors": ("global.naming (x)",), "breaking": ("b",)}
    )
    trust = score("p", worse)
    by_name = {c.name: c for c in trust.components}
    assert by_name["policies"].points == 0 and by_name["breaking"].points == 0
    assert round(trust.score, 1) == 63.7  # 79.9 less the policies' 11.25 and breaking's 5
    assert trust.level == "bronze"


@pytest.mark.parametrize(
    ("value", "level"),
    [(100, "gold"), (85, "gold"), (84.9, "silver"), (70, "silver"), (50, "bronze"), (49.9, "unrated")],
)
def test_levels_and_their_thresholds(value, level):
    assert level_of(value) == level


def test_a_complete_contract_has_every_element():
    assert contract_gaps(registry.get_product("sales.customer_orders")) == (11, ())


def test_measured_from_the_stores(tmp_path, monkeypatch):
    """Validations, SLO evaluations, reads and the published contract, written to real stores."""
    from data_mesh.metadata.store import AccessEvent, MetadataStore, ValidationRecord, dispose_engines
    from data_mesh.metadata.store.slo import SloEvaluation, SloStore

    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    spec = registry.get_product("sales.customer_orders")
    now = datetime.now(UTC)
    meta = MetadataStore()
    for day, ok in ((40, False), (3, True), (2, False), (1, True)):  # the 40-day-old failure is out
        meta.record_validation(ValidationRecord(spec.id, success=ok, created_at=now - timedelta(days=day)))
    meta.record_access(AccessEvent("carol", "user", spec.id, "api", True, rows=1))
    meta.upsert_product(spec, Path(spec.contract_path).read_text(encoding="utf-8"))
    states = ((20, "met"), (15, "met"), (10, "violated"), (5, "met"))  # every 5 min, as the SLO DAG
    SloStore().record(
        SloEvaluation(spec.id, now - timedelta(minutes=m), state, age_hours=1.0, sla_hours=36.0)
        for m, state in states
    )
    trust = product_trust(spec, registry.load_mesh().products, now=now)
    by_name = {c.name: c for c in trust.components}
    assert by_name["quality"].detail == "2 of 3 validations passed in 30 days"
    assert by_name["slo"].value == pytest.approx(0.75)  # 15 min met, 5 min violated
    assert by_name["consumers"].detail == "2 consumer(s) in 30 days"  # finance's DAG and carol
    assert by_name["breaking"].value == 1 and by_name["completeness"].value == 1
    dispose_engines()
