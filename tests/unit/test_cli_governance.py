"""Governance from the terminal: `data-mesh` (a subprocess) against the real plugin app and Airflow's
own login in this process (the `api` fixture of test_cli_api.py, this module's own instance).

Who requests, approves, revokes, erases or corrects is the user of the token, never an argument:
the viewer asks for customer_email, alice.sales (role user, an owner in the contract of
sales.customer_orders, logged in with her password) decides, and the reads follow the decision.
The erasure and correction endpoints are built on other branches: their tests run once the app
has the route, and until then the CLI is checked to say the api-server lacks it.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime

import pytest

from tests.unit import test_cli_api
from tests.unit.test_cli_api import ORDERS, as_user, cli

api, env = test_cli_api.api, test_cli_api.env  # orders v1 (3 rows) and v2 (4 rows: buyer0..3@example.com)
EMAILS = [f"buyer{i}@example.com" for i in range(4)]
READ_EMAILS = ("download", ORDERS, "--columns", "order_id,customer_email")



@pytest.fixture
def alice(api, env, tmp_path) -> dict[str, str]:
    """alice.sales, logged in with her password through Airflow's /auth/token (a token of her own)."""
    mine = {**env, "DATA_MESH_CREDENTIALS_FILE": str(tmp_path / "alice" / "credentials.json")}
    out = cli(mine, "login", "--username", "alice.sales", "--password-stdin", stdin="alice.sales\n")
    assert out.returncode == 0 and "as alice.sales" in out.stdout, out.stderr
    return mine


@pytest.fixture
def viewer(api, env) -> dict[str, str]:
    return as_user(api, env, "viewer")


def ok(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    return out.stdout


def fails(out: subprocess.CompletedProcess, code: int, message: str) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert message in out.stderr and "Traceback" not in out.stderr, out.stderr
    return out.stderr


def request_emails(viewer, purpose: str = "fraud review") -> int:
    out = ok(
        cli(
            viewer,
            "request-access",
            ORDERS,
            "--columns",
            "customer_email",
            "--purpose",
            purpose,
            "--days",
            "7",
        )
    )
    found = re.search(r"^access request #(\d+): pending$", out, re.MULTILINE)
    assert found, out
    assert "customer_email for 7 days, for viewer" in out and f"purpose: {purpose}" in out
    return int(found.group(1))


def line_of(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(start))


def row_of(table: str, request_id: int) -> str:
    return next(line for line in table.splitlines() if line.split()[:1] == [str(request_id)])


def test_request_approve_read_revoke(api, viewer, alice):
    mine = ok(cli(viewer, "access", ORDERS))
    assert "access of viewer" in mine.splitlines()[0] and "you steward" not in mine
    assert "customer_email" in line_of(mine, "masked:") and "customer_email" not in line_of(mine, "readable:")
    assert "pii-readers" in mine and "request-access" in mine
    fails(cli(viewer, *READ_EMAILS), 3, "access denied: viewer may not read")

    request = request_emails(viewer)
    pending = ok(cli(alice, "requests", "--product", ORDERS, "--status", "pending"))
    assert "pending" in row_of(pending, request) and "fraud review" in row_of(pending, request)
    stewarding = ok(cli(alice, "access", ORDERS))
    assert "access of alice.sales (you steward it" in stewarding and "data-mesh approve <id>" in stewarding
    assert str(request) in stewarding.split("Pending requests:")[1]

    # the requester decides nothing; the owning team does
    refused = fails(cli(viewer, "approve", str(request)), 3, "data-mesh: access denied: ")
    assert f"only the owning team of {ORDERS} or an admin" in refused  # the server's reason
    fails(cli(viewer, *READ_EMAILS), 3, "access denied")
    approved = ok(cli(alice, "approve", str(request), "--reason", "fraud team"))
    head = f"access request #{request} ({ORDERS}, viewer, customer_email)"
    assert f"{head}: approved by alice.sales" in approved
    assert "the grant expires 20" in approved

    csv = ok(cli(viewer, *READ_EMAILS)).replace('"', "").splitlines()
    assert csv == ["order_id,customer_email", *[f"o-00{i},{e}" for i, e in enumerate(EMAILS)]]
    granted = ok(cli(viewer, "access", ORDERS))
    assert "customer_email" in line_of(granted, "readable:")
    assert "approved" in row_of(granted.split("Active grants:")[1], request)
    assert "approved" in row_of(ok(cli(viewer, "requests", "--mine")), request)

    revoked = ok(cli(alice, "revoke", str(request), "--reason", "review done"))
    assert "revoked by alice.sales; effective on the next read" in revoked
    fails(cli(viewer, *READ_EMAILS), 3, "access denied: viewer may not read")
    assert "revoked" in row_of(ok(cli(viewer, "requests", "--mine", "--status", "revoked")), request)

    audit = ok(cli(viewer, "audit", "--product", ORDERS)).splitlines()[2:]
    trail = [line.split()[2:4] for line in audit if re.search(rf'"request": {request}\b', line)]
    assert ["alice.sales", "access.revoked"] in trail and ["alice.sales", "access.approved"] in trail
    assert ["viewer", "access.request"] in trail
    only = ok(cli(viewer, "audit", "--product", ORDERS, "--action", "access.approved"))
    assert all(line.split()[3] == "access.approved" for line in only.splitlines()[2:-1])

    usage = ok(cli(alice, "usage", ORDERS))
    consumer = line_of(usage, "viewer")
    assert "customer_email" in consumer and "cli" in consumer.split()


def test_a_denial_needs_a_reason(api, viewer, alice):
    request = request_emails(viewer, "campaign matching")
    for reason in ([], ["--reason", "  "]):
        fails(cli(alice, "deny", str(request), *reason), 2, "deny needs --reason: the requester reads why")
    assert "pending" in row_of(ok(cli(viewer, "requests", "--mine", "--status", "pending")), request)
    denied = ok(cli(alice, "deny", str(request), "--reason", "no need shown"))
    assert "denied by alice.sales: no need shown" in denied
    fails(cli(alice, "approve", str(request)), 2, f"access request #{request} is denied, not pending")
    fails(cli(alice, "revoke", str(request)), 2, "there is no grant to revoke")
    fails(cli(viewer, *READ_EMAILS), 3, "access denied")


@pytest.mark.parametrize(
    ("user", "args", "code", "message"),
    [
        ("viewer", ["approve", "99999"], 2, "no access request #99999"),
        (
            "viewer",
            ["request-access", ORDERS, "--columns", "salary", "--purpose", "x", "--days", "1"],
            2,
            "unknown columns ['salary']",
        ),
        (
            "viewer",
            ["request-access", ORDERS, "--columns", "customer_email", "--purpose", "x", "--days", "400"],
            2,
            "duration_days",
        ),
        (
            "viewer",
            ["request-access", ORDERS, "--columns", " , ", "--purpose", "x", "--days", "1"],
            2,
            "--columns names the columns you need",
        ),
        (
            "viewer",
            [
                "request-access",
                ORDERS,
                "--columns",
                "customer_email",
                "--purpose",
                "x",
                "--days",
                "1",
                "--for-domain",
                "marketing",
            ],
            3,
            "domain 'marketing'",
        ),
        (
            "viewer",
            ["request-access", "sales/../../x", "--columns", "a", "--purpose", "x", "--days", "1"],
            2,
            "unknown data product 'sales/../../x'",
        ),
        ("viewer", ["requests", "--product", "nope.nothing"], 2, "unknown data product 'nope.nothing'"),
        ("viewer", ["usage", "nope.nothing"], 2, "unknown data product 'nope.nothing'"),
        ("viewer", ["access", "sales/../../x"], 2, "unknown data product"),
        ("viewer", ["access", ORDERS, "--principal", "x"], 2, "for the access log run `data-mesh access-log"),
        ("viewer", ["audit", "--limit", "501"], 2, "--limit must be between 1 and 500"),
        (
            "alice.sales",
            ["correct", ORDERS, "--where", "order_id=o-001", "--set", "status=returned"],
            2,
            "correct needs --reason",
        ),
        (
            "alice.sales",
            ["correct", ORDERS, "--where", "order_id", "--delete", "--reason", "r"],
            2,
            "--where is COLUMN=VALUE",
        ),
        ("admin", ["erase", "--subject", "customer_email", "--reason", "r"], 2, "--subject is COLUMN=VALUE"),
        ("admin", ["erase", "--subject", "customer_email=buyer0@example.com"], 2, "erase needs --reason"),
    ],
)
def test_refusals_exit_with_a_clear_message(api, env, user, args, code, message):
    out = cli(as_user(api, env, user), *args)
    fails(out, code, message)
    assert "buyer0@example.com" not in out.stdout + out.stderr


def test_requests_mine_are_the_tokens_users(api, env, viewer):
    carol = as_user(api, env, "carol.marketing")  # an owner in the marketing domain's contract
    out = ok(
        cli(
            carol,
            "request-access",
            ORDERS,
            "--columns",
            "customer_email",
            "--purpose",
            "matching",
            "--days",
            "30",
            "--for-domain",
            "marketing",
        )
    )
    request = int(re.search(r"#(\d+)", out).group(1))
    assert "for domain marketing's DAGs" in out
    theirs = ok(cli(carol, "requests", "--mine"))
    assert "domain marketing (by carol.marketing)" in row_of(theirs, request)
    viewers = ok(cli(viewer, "requests", "--mine")).splitlines()[2:-1]
    assert all(int(line.split()[0]) != request for line in viewers)


def valid_orders(n: int, day: date):
    """Rows that pass the contract's suite (a correction validates its partition like a publication)."""
    import pyarrow as pa

    from data_mesh.contract.registry import get_product
    from data_mesh.storage.arrow import arrow_schema

    rows = {
        "order_id": [f"ord-{day:%Y%m%d}-{i:06d}" for i in range(n)],
        "order_date": [day] * n,
        "order_ts": [datetime(day.year, day.month, day.day, 9, i, tzinfo=UTC) for i in range(n)],
        "customer_id": [f"cus-{i:06d}" for i in range(n)],
        "customer_email": [f"shopper{i}@example.com" for i in range(n)],
        "customer_country": ["FRA"] * n,
        "region": ["EMEA", "NA"] * (n // 2) + ["EMEA"] * (n % 2),
        "status": ["placed"] * n,
        "amount": [10.0 * (i + 1) for i in range(n)],
        "currency": ["USD"] * n,
        "items": [i + 1 for i in range(n)],
    }
    return pa.Table.from_pydict(rows, schema=arrow_schema(get_product(ORDERS)))


def test_correct(api, env, viewer, alice):
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    day = date(2026, 11, 21)  # a partition of valid rows, published in this API's stores
    published = product_storage(get_product(ORDERS)).publish(valid_orders(3, day), str(day), "h", "manual__3")
    order = f"ord-{day:%Y%m%d}-000001"
    change = ["--where", f"order_id={order}", "--set", "status=returned", "--reason", "customer returned it"]
    fails(cli(viewer, "correct", ORDERS, *change), 3, "access denied")
    out = ok(cli(alice, "correct", ORDERS, *change))
    version = published.version
    assert f"{ORDERS}: corrected (update), now v{version + 1} (from v{version})" in out
    rows = ok(cli(viewer, "download", ORDERS, "--columns", "order_id,status")).replace('"', "").splitlines()
    assert f"{order},returned" in rows and f"ord-{day:%Y%m%d}-000000,placed" in rows
    missing = ["--where", "order_id=nope", "--delete", "--reason", "duplicate"]
    fails(cli(alice, "correct", ORDERS, *missing), 2, "")
    unknown = ["--where", "salary=1", "--delete", "--reason", "r"]
    fails(cli(alice, "correct", ORDERS, *unknown), 2, "salary")


def test_erase(api, env, viewer):
    admin = as_user(api, env, "admin")
    subject = ["--subject", "customer_email=buyer3@example.com", "--reason", "GDPR request #7"]
    refused = cli(viewer, "erase", *subject)
    fails(refused, 3, "access denied")
    out = cli(admin, "erase", *subject)
    receipt = ok(out)
    assert re.search(r"^erasure receipt #\d+: customer_email erased by admin", receipt, re.MULTILINE)
    assert ORDERS in line_of(receipt, ORDERS) and "v2" in line_of(receipt, ORDERS)  # buyer3 is in v2 only
    again = cli(admin, "erase", *subject)
    fails(again, 2, "already erased")
    unknown = cli(admin, "erase", "--subject", "customer_email=nobody@example.com", "--reason", "GDPR #8")
    fails(unknown, 2, "unknown subject")
    for each in (refused, out, again, unknown):
        assert "buyer3@example.com" not in each.stdout + each.stderr
        assert "nobody@example.com" not in each.stdout + each.stderr
