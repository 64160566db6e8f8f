"""A product's trust score (0-100) and quality level, and what would raise them.

Seven components, each measured between 0 and 1 and weighted (the weights sum to 100, so a
component's shortfall is the points it costs):

    component       weight  measured as
    quality           25    validations passed / run over the last 30 days (none run: 0)
    slo               20    freshness SLO attainment over 30 days (`slo.attainment`; none measured: 0)
    completeness      15    share of the contract's elements present: purpose, usage, limitations,
                            tags, a support channel, a latency SLA, a frequency (or Asset inputs),
                            a retention, a primary key, a team of two or more, an access role
    policies          15    1 with no violation; each warning costs 0.25; a blocking one costs all
    documented        10    share of columns with a description (a scaffolding TODO is none)
    consumers         10    consumers in the last 30 days (consumer DAGs and readers), 3 or more = 1
    breaking           5    1 unless the contract holds a breaking change against the published one

    level   gold >= 85, silver >= 70, bronze >= 50, below that "unrated"

The steps are the components below 1, each with the concrete action and the points it would add,
largest first. A domain's score is the mean of its products'; the domain page ranks them.
`score` is a pure function of `TrustInputs`; `gather` reads them from the contract and the stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from data_mesh.contract.spec import TODO_MARKER, ProductSpec

Level = Literal["gold", "silver", "bronze", "unrated"]
WEIGHTS = {
    "quality": 25,
    "slo": 20,
    "completeness": 15,
    "policies": 15,
    "documented": 10,
    "consumers": 10,
    "breaking": 5,
}
LEVELS: tuple[tuple[float, Level], ...] = ((85, "gold"), (70, "silver"), (50, "bronze"))
WINDOW = timedelta(days=30)
ENOUGH_CONSUMERS = 3


@dataclass(frozen=True)
class TrustInputs:
    """What the score is computed from (every figure over the last 30 days)."""

    missing: tuple[str, ...]  # contract elements absent (completeness)
    elements: int  # contract elements checked
    quality_runs: int
    quality_passed: int
    slo_attainment: float | None
    slo_declared: bool  # the contract sets a latency or a frequency
    undocumented: tuple[str, ...]  # columns without a description
    columns: int
    consumers: int
    breaking: tuple[str, ...]  # pending breaking changes against the published contract
    policy_errors: tuple[str, ...]  # "policy: reason" of blocking findings
    policy_warnings: tuple[str, ...]


@dataclass(frozen=True)
class Component:
    name: str
    weight: int
    value: float  # 0..1
    detail: str  # what was measured
    step: str | None  # what would raise it (None: nothing to gain)

    @property
    def points(self) -> float:
        return self.weight * self.value

    @property
    def gain(self) -> float:
        return self.weight * (1 - self.value)


@dataclass(frozen=True)
class TrustScore:
    product_id: str
    score: float
    level: Level
    components: tuple[Component, ...]

    @property
    def steps(self) -> list[Component]:
        """The components below their full weight, the largest gain first."""
        return sorted((c for c in self.components if c.step and c.gain > 0), key=lambda c: -c.gain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "score": round(self.score, 1),
            "level": self.level,
            "thresholds": {name: minimum for minimum, name in LEVELS},
            "components": [
                {
                    "name": c.name,
                    "weight": c.weight,
                    "value": round(c.value, 3),
                    "points": round(c.points, 1),
                    "detail": c.detail,
                }
                for c in self.components
            ],
            "steps": [{"component": c.name, "gain": round(c.gain, 1), "step": c.step} for c in self.steps],
        }


def level_of(score: float) -> Level:
    return next((name for minimum, name in LEVELS if score >= minimum), "unrated")


def score(product_id: str, inputs: TrustInputs) -> TrustScore:
    """The score, level and steps from the measured inputs (pure)."""
    i = inputs
    quality = i.quality_passed / i.quality_runs if i.quality_runs else 0.0
    warnings_cost = 0.25 * len(i.policy_warnings)
    policies = 0.0 if i.policy_errors else max(0.0, 1 - warnings_cost)
    components = (
        Component(
            "quality",
            WEIGHTS["quality"],
            quality,
            f"{i.quality_passed} of {i.quality_runs} validations passed in 30 days",
            "publish at least once a month: no validation ran in 30 days"
            if not i.quality_runs
            else f"fix what failed {i.quality_runs - i.quality_passed} validation(s) (see their reports)",
        ),
        _slo(i.slo_attainment, i.slo_declared),
        Component(
            "completeness",
            WEIGHTS["completeness"],
            1 - len(i.missing) / i.elements if i.elements else 1.0,
            f"{i.elements - len(i.missing)} of {i.elements} contract elements present",
            f"add to the contract: {', '.join(i.missing)}" if i.missing else None,
        ),
        Component(
            "policies",
            WEIGHTS["policies"],
            policies,
            f"{len(i.policy_errors)} blocking finding(s), {len(i.policy_warnings)} warning(s)",
            f"resolve {'; '.join(i.policy_errors + i.policy_warnings)}"
            if i.policy_errors or i.policy_warnings
            else None,
        ),
        Component(
            "documented",
            WEIGHTS["documented"],
            1 - len(i.undocumented) / i.columns if i.columns else 1.0,
            f"{i.columns - len(i.undocumented)} of {i.columns} columns described",
            f"describe the columns {', '.join(i.undocumented)}" if i.undocumented else None,
        ),
        Component(
            "consumers",
            WEIGHTS["consumers"],
            min(i.consumers, ENOUGH_CONSUMERS) / ENOUGH_CONSUMERS,
            f"{i.consumers} consumer(s) in 30 days",
            "make it known (tags, description, the catalog): "
            f"{ENOUGH_CONSUMERS - i.consumers} more consumer(s) for full marks"
            if i.consumers < ENOUGH_CONSUMERS
            else None,
        ),
        Component(
            "breaking",
            WEIGHTS["breaking"],
            0.0 if i.breaking else 1.0,
            f"{len(i.breaking)} pending breaking change(s)",
            f"publish the breaking change(s) as a new major side by side: {'; '.join(i.breaking)}"
            if i.breaking
            else None,
        ),
    )
    total = sum(c.points for c in components)
    return TrustScore(product_id, total, level_of(total), components)


def _slo(attainment: float | None, declared: bool) -> Component:
    if attainment is None:
        step = (
            "publish: the data_mesh__slo DAG has measured nothing in 30 days"
            if declared
            else "declare a latency SLA (slaProperties latency) so freshness can be measured"
        )
        return Component("slo", WEIGHTS["slo"], 0.0, "no SLO measured in 30 days", step)
    return Component(
        "slo",
        WEIGHTS["slo"],
        attainment,
        f"freshness SLO met {attainment:.0%} of the time over 30 days",
        "publish within the latency SLA (see the SLO panel's history)" if attainment < 1 else None,
    )


def contract_gaps(spec: ProductSpec) -> tuple[int, tuple[str, ...]]:
    """(elements checked, the names of those missing) for completeness."""
    present = {
        "a purpose": bool(spec.description) and not spec.description.startswith(TODO_MARKER),
        "a usage": bool(spec.usage) and not spec.usage.startswith(TODO_MARKER),
        "limitations": bool(spec.limitations),
        "tags": bool(spec.tags),
        "a support channel": bool(spec.support),
        "a latency SLA": spec.sla.latency_hours is not None,
        "a frequency": bool(spec.sla.frequency) or bool(spec.inputs),
        "a retention": spec.sla.retention_versions is not None or spec.sla.retention_days is not None,
        "a primary key": bool(spec.primary_key),
        "a team of two or more": len(spec.team) >= 2,
        "an access role": bool(spec.access.roles),
    }
    return len(present), tuple(name for name, ok in present.items() if not ok)


def gather(spec: ProductSpec, mesh: dict[str, ProductSpec], now: datetime | None = None) -> TrustInputs:
    """Measure the inputs from the contract, the policies, the metadata store and the SLO history."""
    from data_mesh.contract.policies import check_product
    from data_mesh.governance import breaking, lifecycle
    from data_mesh.metadata.store import MetadataStore
    from data_mesh.metadata.store.slo import SloStore
    from data_mesh.slo.report import attainment_over

    now = now or datetime.now(UTC)
    store = MetadataStore()
    runs = [v for v in store.quality_history(spec.id, limit=10_000) if v.created_at >= now - WINDOW]
    month = attainment_over(spec.id, 30, now, SloStore(store.engine))
    findings = [f for f in check_product(spec) if f.status == "violated"]
    published = breaking.last_published(spec, store)
    from data_mesh.contract import compat

    pending = tuple(str(c) for c in compat.gate(published, spec)) if published else ()
    elements, missing = contract_gaps(spec)
    return TrustInputs(
        missing=missing,
        elements=elements,
        quality_runs=len(runs),
        quality_passed=sum(1 for v in runs if v.success),
        slo_attainment=month.ratio,
        slo_declared=spec.sla.latency_hours is not None or bool(spec.sla.frequency),
        undocumented=tuple(
            c.name for c in spec.columns if not c.description or c.description.startswith(TODO_MARKER)
        ),
        columns=len(spec.columns),
        consumers=len(lifecycle.consumers(spec, mesh, store, now=now)),
        breaking=pending,
        policy_errors=tuple(f"{f.policy} ({f.field}: {f.message})" for f in findings if f.blocking),
        policy_warnings=tuple(f"{f.policy} ({f.field}: {f.message})" for f in findings if not f.blocking),
    )


def product_trust(spec: ProductSpec, mesh: dict[str, ProductSpec], now: datetime | None = None) -> TrustScore:
    return score(spec.id, gather(spec, mesh, now))


@dataclass(frozen=True)
class DomainTrust:
    domain: str
    score: float | None  # the mean of its products' scores
    level: Level
    products: tuple[TrustScore, ...]  # ranked, best first

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "score": round(self.score, 1) if self.score is not None else None,
            "level": self.level,
            "products": [
                {"product_id": p.product_id, "score": round(p.score, 1), "level": p.level}
                for p in self.products
            ],
        }


def domain_trust(domain: str, mesh: dict[str, ProductSpec], now: datetime | None = None) -> DomainTrust:
    """Every product of the domain in `mesh` (the caller passes those the principal may see), ranked."""
    ranked = sorted(
        (product_trust(s, mesh, now) for s in mesh.values() if s.domain == domain),
        key=lambda t: (-t.score, t.product_id),
    )
    mean = sum(t.score for t in ranked) / len(ranked) if ranked else None
    return DomainTrust(domain, mean, level_of(mean) if mean is not None else "unrated", tuple(ranked))
