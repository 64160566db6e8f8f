"""Governance as code: each global policy, a domain's own policy, waivers, and where they are enforced."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from data_mesh.cli import main as cli
from data_mesh.contract.odcs import load_contract
from data_mesh.contract.policies import GLOBAL_POLICIES, PolicyContext, check_product
from data_mesh.contract.registry import load_product
from data_mesh.contract.spec import Column, HttpSource, Sla
from data_mesh.exceptions import ContractError

REPO = Path(__file__).resolve().parents[3]
ORDERS = load_contract(REPO / "domains" / "sales" / "customer_orders.odcs.yaml")
CTX = PolicyContext(expectations_folder=REPO / "expectations", known_users=frozenset({"alice.sales"}))


def _col(spec, column, **changes):
    return tuple(replace(c, **changes) if c.name == column else c for c in spec.columns)


BREAKS = {
    "global.naming": lambda s: replace(s, columns=_col(s, "region", name="Region")),
    "global.documented": lambda s: replace(s, columns=_col(s, "region", description="")),
    "global.decided": lambda s: replace(s, todos=("schema[customer_orders].properties[region].description",)),
    "global.pii-restricted": lambda s: replace(
        s, columns=_col(s, "customer_email", classification="internal")
    ),
    "global.lifecycle-status": lambda s: replace(s, status="shipping"),
    "global.latency-sla": lambda s: replace(s, sla=Sla(frequency="@daily")),
    "global.primary-key": lambda s: replace(s, columns=_col(s, "order_id", primary_key=False)),
    "global.suite-present": lambda s: replace(s, expectation_suite="sales/missing.json"),
    "global.owner-exists": lambda s: replace(s, owner="mallory", team=(("mallory", "owner"),)),
    "global.buildable": lambda s: replace(s, transform="build_everything"),
    "global.major-version": lambda s: replace(s, name="customer_orders_v2", version="1.0.0"),
    "global.support-channel": lambda s: replace(s, support=()),
}


def test_every_global_policy_has_a_test_that_breaks_it():
    assert set(BREAKS) == {p.id for p in GLOBAL_POLICIES if p.on == "contract"}


def test_the_shipped_contract_complies():
    assert check_product(ORDERS, CTX) == []


@pytest.mark.parametrize("policy_id", sorted(BREAKS))
def test_each_global_policy_finds_its_violation(policy_id):
    findings = check_product(BREAKS[policy_id](ORDERS), CTX)
    assert [f.policy for f in findings] == [policy_id]
    [finding] = findings
    assert finding.product.startswith("sales.customer_orders")  # global.major-version renames it _v2
    assert finding.file.endswith("customer_orders.odcs.yaml")
    assert finding.field and finding.message
    severity = next(p.severity for p in GLOBAL_POLICIES if p.id == policy_id)
    assert finding.blocking == (severity == "error")


def test_owner_must_be_a_known_user_when_the_platform_knows_its_users():
    assert check_product(ORDERS, replace(CTX, known_users=None)) == []
    [finding] = check_product(ORDERS, replace(CTX, known_users=frozenset({"bob"})))
    assert finding.policy == "global.owner-exists" and "alice.sales" in finding.message


def _domains(tmp_path: Path, mutate=None, policies: str | None = None) -> Path:
    domains = tmp_path / "domains"
    shutil.copytree(REPO / "domains", domains)
    contract = domains / "sales" / "customer_orders.odcs.yaml"
    if mutate:
        raw = yaml.safe_load(contract.read_text())
        mutate(raw)
        contract.write_text(yaml.safe_dump(raw, sort_keys=False))
    if policies is not None:
        (domains / "sales" / "policies.py").write_text(policies)
    return domains


def _waive(policy_id: str, expires: date):
    def mutate(raw):
        raw["customProperties"].append(
            {
                "property": "policyWaivers",
                "value": [
                    {
                        "policy": policy_id,
                        "reason": "support moves to the new desk in January",
                        "approvedBy": "governance-board",
                        "expires": expires.isoformat(),
                    }
                ],
            }
        )
        raw["support"] = []

    return mutate


def test_the_sales_domain_policy_blocks_an_amount_without_currency(tmp_path, monkeypatch):
    def drop_currency(raw):
        raw["schema"][0]["properties"] = [
            p for p in raw["schema"][0]["properties"] if p["name"] != "currency"
        ]

    domains = _domains(tmp_path, drop_currency)
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    path = domains / "sales" / "customer_orders.odcs.yaml"
    with pytest.raises(ContractError) as info:
        load_product(path)
    message = str(info.value)
    assert str(path) in message and "column amount" in message and "sales.amount-has-currency" in message


def test_a_domain_policy_applies_to_its_own_domain_only(tmp_path, monkeypatch):
    strict = (
        "from data_mesh import Violation, policy\n"
        "@policy('sales.tagged', 'every sales product has tags')\n"
        "def tagged(spec, ctx):\n"
        "    if not spec.tags:\n"
        "        yield Violation('tags', 'tag the product for the catalog search')\n"
    )
    domains = _domains(tmp_path, lambda raw: raw.pop("tags", None), policies=strict)
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    spec = load_contract(domains / "sales" / "customer_orders.odcs.yaml")
    [finding] = check_product(spec, CTX)
    assert (finding.policy, finding.field, finding.blocking) == ("sales.tagged", "tags", True)
    finance = load_contract(domains / "finance" / "monthly_revenue.odcs.yaml")
    assert check_product(replace(finance, tags=()), replace(CTX, known_users=None)) == []


def test_a_domain_cannot_name_its_policy_as_a_global_one(tmp_path, monkeypatch):
    shadow = (
        "from data_mesh import policy\n"
        "@policy('global.naming', 'an attempt to replace the global rule')\n"
        "def naming(spec, ctx):\n"
        "    return []\n"
    )
    domains = _domains(tmp_path, policies=shadow)
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    with pytest.raises(ContractError, match=r"policies.py.*starting with 'sales\.'"):
        load_product(domains / "sales" / "customer_orders.odcs.yaml")


def test_a_waiver_downgrades_its_policy_until_it_expires(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_MESH_KNOWN_USERS", "alice.sales")
    domains = _domains(tmp_path, _waive("global.support-channel", date.today() + timedelta(days=30)))
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    spec = load_product(domains / "sales" / "customer_orders.odcs.yaml")
    [finding] = check_product(spec)
    assert finding.status == "waived" and not finding.blocking
    assert "governance-board" in finding.waiver


def test_an_expired_waiver_is_a_violation(tmp_path, monkeypatch):
    domains = _domains(tmp_path, _waive("global.support-channel", date.today() - timedelta(days=1)))
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    path = domains / "sales" / "customer_orders.odcs.yaml"
    with pytest.raises(ContractError, match=r"global.waiver-expired.*global.support-channel expired"):
        load_product(path)
    findings = check_product(load_contract(path), CTX)
    assert {f.policy: f.status for f in findings} == {
        "global.support-channel": "violated",
        "global.waiver-expired": "violated",
    }


def test_a_waiver_without_approver_is_a_contract_error(tmp_path):
    def mutate(raw):
        raw["customProperties"].append(
            {
                "property": "policyWaivers",
                "value": [{"policy": "global.naming", "reason": "x", "expires": "2030-01-01"}],
            }
        )

    domains = _domains(tmp_path, mutate)
    with pytest.raises(ContractError, match="policyWaivers.*approvedBy"):
        load_contract(domains / "sales" / "customer_orders.odcs.yaml")


def test_check_reports_per_domain_and_fails_on_a_blocking_finding(tmp_path, monkeypatch, capsys):
    domains = _domains(tmp_path, lambda raw: raw["schema"][0]["properties"][2].update(description=""))
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    assert cli(["check", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["blocking"] == 1
    assert set(report["domains"]) == {"finance", "marketing", "sales"}
    [finding] = report["domains"]["sales"]["products"]["sales.customer_orders"]
    assert finding["policy"] == "global.documented" and finding["field"] == "column order_ts"
    assert report["domains"]["finance"]["products"] == {"finance.monthly_revenue": []}
    sales_policies = {p["id"]: p["scope"] for p in report["domains"]["sales"]["policies"]}
    assert (
        sales_policies["sales.amount-has-currency"] == "sales" and sales_policies["global.naming"] == "global"
    )

    assert cli(["check", "--domain", "finance"]) == 0
    text = capsys.readouterr().out
    assert "domain finance: 1 product(s), 0 error(s)" in text and "0 blocking finding(s)" in text


def test_check_on_the_shipped_mesh_passes(capsys):
    assert cli(["check"]) == 0, capsys.readouterr().out


def test_a_policy_violation_is_a_dag_import_error_naming_policy_file_and_field(
    tmp_path, monkeypatch, airflow_db
):
    from airflow.dag_processing.dagbag import DagBag

    domains = _domains(
        tmp_path, lambda raw: raw["schema"][0]["properties"][4].update(classification="internal")
    )
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    bag = DagBag(dag_folder=str(REPO / "dags" / "sales.py"))
    assert "sales__customer_orders" not in bag.dags
    [(file, error)] = bag.import_errors.items()
    assert "customer_orders.odcs.yaml" in error
    assert "global.pii-restricted" in error and "column customer_email" in error


def test_sources_are_not_required_when_inputs_are_declared():
    consumer = replace(ORDERS, sources=(), inputs=("marketing.ads_performance",))
    assert check_product(consumer, CTX) == []
    assert [f.policy for f in check_product(replace(ORDERS, sources=()), CTX)] == ["global.buildable"]
    assert isinstance(ORDERS.sources[0], HttpSource) and isinstance(ORDERS.columns[0], Column)


def _orders_batch(**columns):
    """One sales.customer_orders batch (as validate conforms it), with some columns replaced."""
    import pyarrow as pa

    from tests.unit.governance.test_sql import orders

    table = orders(4)
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    return table


def test_the_policies_on_the_data_check_each_batch():
    from data_mesh.contract.policies import check_data

    assert check_data(ORDERS, _orders_batch()) == []  # e-mails in the restricted column only: fine
    leaked = _orders_batch(customer_country=["FRA", "ann@example.com", "bob@example.org", "USA"])
    [finding] = check_data(ORDERS, leaked)
    assert (finding.policy, finding.field, finding.blocking) == (
        "global.no-undeclared-pii", "column customer_country", True
    )  # fmt: skip
    assert finding.message.startswith("2 value(s) look like e-mail addresses in a internal column")
    assert "example" not in finding.message  # never the values themselves
    [warning] = check_data(ORDERS, _orders_batch(currency=["USD", "EUR", "USD", "USD"]))
    assert (warning.policy, warning.severity, warning.message) == (
        "sales.usd-amounts", "warning", "1 row(s) in another currency than USD"
    )  # fmt: skip
    # the contract check never runs them, and they never block a DAG at parse
    assert all(
        f.policy not in {"global.no-undeclared-pii", "sales.usd-amounts"} for f in check_product(ORDERS, CTX)
    )


def test_a_waiver_downgrades_a_policy_on_the_data():
    from data_mesh.contract.policies import check_data
    from data_mesh.contract.spec import Waiver

    waived = replace(
        ORDERS,
        waivers=(
            Waiver("global.no-undeclared-pii", "test fixtures", "carol", date.today() + timedelta(days=1)),
        ),
    )
    leaked = _orders_batch(customer_country=["x@example.com"] * 4)
    [finding] = check_data(waived, leaked)
    assert finding.status == "waived" and not finding.blocking
