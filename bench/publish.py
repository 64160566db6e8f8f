"""Validate + publish 1M rows of the orders shape, against two baselines measured in the same run.

(a) pyarrow writes the same Parquet with no checks;
(b) the same checks written by hand in pandas, plus the write;
(c) the platform: `check_and_stage` (contract checks + the GX suite, with the Parquet file staged
    on a second thread) + `ProductStore.commit`, exactly what the validate and publish tasks run,
    on a first publication: every one of the ~200k e-mail addresses is new to the PII vault;
(d) the same, the vault already holding every address (a daily run's usual state: its customers
    were published before), so only lookups remain of the pseudonymization;
(e) the same publish with `customer_email` not restricted: no vault at all. This is #7's "validate +
    commit" as #7 measured it before #8 pseudonymized the column (c/b = 1.39 then); what the vault
    adds to it is #8's benchmark (`bench.pseudonymize`, whose baseline is this same publish).

Each case runs in a fresh process: libraries are imported and warmed up first, then the RSS is
noted, the data is loaded and the case runs while a thread samples the RSS. Peak memory is reported
as (peak RSS - RSS before the data was loaded) / Arrow size of the data, so it counts the data itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.fresh_process import measure

REPO = Path(__file__).resolve().parents[1]
ROWS = 1_000_000
REPEAT = 5  # fresh processes per case; the median time and the highest peak are reported
CASES = "abcde"


def make_orders(rows: int):
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    rng = np.random.default_rng(7)
    ids = np.arange(rows)
    ts = pd.Timestamp("2026-11-20", tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
    countries = np.array(["USA", "DEU", "GBR", "JPN", "BRA", "IND"])
    regions = np.array(["NA", "EMEA", "EMEA", "APAC", "LATAM", "APAC"])
    pick = rng.integers(0, len(countries), rows)
    customer = rng.integers(0, 200_000, rows)
    frame = pd.DataFrame(
        {
            # the suite's pattern allows six digits after the date: past 1M rows the date part counts on
            "order_id": pd.Series(ids).map(lambda i: f"ord-{20261120 + i // 10**6:08d}-{i % 10**6:06d}"),
            "order_date": ts.date,
            "order_ts": ts,
            "customer_id": pd.Series(customer).map("cus-{:06d}".format),
            "customer_email": pd.Series(customer).map("user{}@example.com".format),
            "customer_country": countries[pick],
            "region": regions[pick],
            "status": np.array(["placed", "shipped", "delivered", "cancelled", "returned"])[
                rng.integers(0, 5, rows)
            ],
            "amount": rng.gamma(2.0, 60.0, rows).round(2),
            "currency": "USD",
            "items": rng.integers(1, 8, rows),
        }
    )
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.arrow import arrow_schema

    return pa.Table.from_pandas(
        frame, schema=arrow_schema(get_product("sales.customer_orders")), preserve_index=False
    )


class PeakRss:
    """Samples this process's RSS every 2 ms while the block runs."""

    def __enter__(self):
        import psutil

        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def hand_written(table, out: Path) -> None:
    """(b): the suite's checks as a careful engineer would write them in pandas."""
    import pyarrow.parquet as pq

    df = table.to_pandas()
    problems = []
    for col in [
        "order_id",
        "order_date",
        "order_ts",
        "customer_id",
        "region",
        "status",
        "amount",
        "currency",
        "items",
    ]:
        if df[col].isna().any():
            problems.append(f"{col} has nulls")
    if df["order_id"].duplicated().any():
        problems.append("duplicate order_id")
    checks = {
        "order_id": df["order_id"].str.match(r"^ord-[0-9]{8}-[0-9]{6}$"),
        "customer_id": df["customer_id"].str.match(r"^cus-[0-9]{6,}$"),
        "customer_email": df["customer_email"].str.match(r"^[^@ \t\r\n]+@[^@ \t\r\n]+\.[^@ \t\r\n]+$"),
        "customer_country": df["customer_country"].str.match(r"^[A-Z]{3}$"),
        "region": df["region"].isin(["NA", "EMEA", "APAC", "LATAM"]),
        "status": df["status"].isin(["placed", "shipped", "delivered", "cancelled", "returned"]),
        "currency": df["currency"].isin(["USD"]),
        "amount": df["amount"].between(0, 1_000_000),
        "items": df["items"] >= 1,
    }
    for col, ok in checks.items():
        if not ok.fillna(True).all():
            problems.append(f"{col} out of range")
    if not 1 <= len(df) <= 10_000_000:
        problems.append("row count")
    assert not problems, problems
    pq.write_table(table, out / "orders.parquet")


def without_pii(spec):
    """`spec` with every restricted column classified `internal`: published as is, no vault."""
    from dataclasses import replace

    columns = tuple(replace(c, classification="internal") if c.is_pii else c for c in spec.columns)
    return replace(spec, columns=columns)


def publish_day_before(store, warm) -> None:
    """The product's table exists (it is created once in a product's life): `warm`'s rows published
    as the day before, in a catalog of this measurement only, as steady-state daily runs find it."""
    from datetime import date

    import pyarrow as pa

    from data_mesh.storage.arrow import schema_hash

    earlier = warm.set_column(1, "order_date", pa.array([date(2026, 11, 19)] * warm.num_rows))
    ids = pa.array([f"ord-20261119-{i:06d}" for i in range(warm.num_rows)])
    earlier = earlier.set_column(0, "order_id", ids)
    if "customer_email" in earlier.column_names:  # customers of their own: every measured one is new
        emails = pa.array([f"earlier{i}@example.org" for i in range(warm.num_rows)])
        earlier = earlier.set_column(earlier.column_names.index("customer_email"), "customer_email", emails)
    earlier = earlier.cast(warm.schema)
    store.publish(earlier, "2026-11-19", schema_hash(warm.schema), "warm-up")


def run_case(case: str, data: Path) -> dict:
    """One measurement of a case in this (fresh) process."""
    import gc

    import psutil
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data_mesh import conf
    from data_mesh.contract.partition import parse_partition
    from data_mesh.contract.registry import get_product
    from data_mesh.pipeline.steps import check_and_stage
    from data_mesh.quality.evaluate import evaluate as validate_table
    from data_mesh.storage.arrow import schema_hash
    from data_mesh.storage.products import product_storage

    spec = get_product("sales.customer_orders")
    if case == "e":
        spec = without_pii(spec)
    suite = str(conf.expectations_folder() / spec.expectation_suite)
    warm = pq.read_table(data).slice(0, 1000)
    tmp_dir = tempfile.TemporaryDirectory()
    tmp = tmp_dir.name
    if case in "cde":
        validate_table(warm, spec, suite)  # imports GX and builds its context once, as a worker would
        os.environ["DATA_MESH_METADATA_URL"] = f"sqlite:///{tmp}/metadata.db"
        publish_day_before(product_storage(spec, root=tmp), warm)
        if case == "d":  # the customers are known: their tokens were made by earlier publications
            from data_mesh.governance.vault import Vault

            emails = pq.read_table(data, columns=["customer_email"]).column(0)
            Vault().tokens(pc.unique(emails).drop_null().to_pylist())
            del emails
    elif case == "b":
        warm.to_pandas()
    del warm
    gc.collect()
    with tmp_dir:
        before = psutil.Process().memory_info().rss
        with PeakRss() as rss:
            table = pq.read_table(data)
            started = time.perf_counter()
            if case == "a":
                pq.write_table(table, Path(tmp) / "orders.parquet")
            elif case == "b":
                hand_written(table, Path(tmp))
            else:
                store = product_storage(spec, root=tmp)
                window = parse_partition("day", "2026-11-20")
                report, staged = check_and_stage(table, spec, store, window)
                assert staged is not None, report.summary_text()
                store.commit(staged, schema_hash(table.schema), "bench")
            seconds = time.perf_counter() - started
    return {
        "case": case,
        "seconds": seconds,
        "peak_rss_x_arrow": (rss.peak - before) / table.nbytes,
        "arrow_mb": table.nbytes / 1e6,
    }


def main_10m() -> dict:
    """#10's scale: 10M rows (1.2 GB of Arrow), one fresh process per case."""
    return main(rows=10_000_000, repeat=1)


def main(rows: int = ROWS, repeat: int = REPEAT) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "orders-input.parquet"
        import pyarrow.parquet as pq

        pq.write_table(make_orders(rows), data)
        runs: dict[str, list[dict]] = {case: [] for case in CASES}
        for _ in range(repeat):  # interleaved, one fresh process per measurement
            for case in runs:
                runs[case].append(measure("bench.publish", "--case", case, "--data", str(data)))
    results = {
        case: {
            "seconds": statistics.median(r["seconds"] for r in measured),
            "peak_rss_x_arrow": max(r["peak_rss_x_arrow"] for r in measured),
            "arrow_mb": measured[0]["arrow_mb"],
        }
        for case, measured in runs.items()
    }
    a, b, c, d, e = (results[k]["seconds"] for k in CASES)
    summary = {
        "rows": rows,
        "arrow_mb": round(results["c"]["arrow_mb"], 1),
        "a_pyarrow_write_s": round(a, 3),
        "b_pandas_checks_write_s": round(b, 3),
        "c_platform_validate_publish_s": round(c, 3),
        "c_over_a": round(c / a, 2),
        "c_over_b": round(c / b, 2),
        "d_platform_known_customers_s": round(d, 3),
        "d_over_b": round(d / b, 2),
        "e_platform_no_pii_s": round(e, 3),
        "e_over_b": round(e / b, 2),
        "peak_rss_x_arrow": {k: round(v["peak_rss_x_arrow"], 2) for k, v in results.items()},
        # #7's target is for validate + commit (e); the vault's share is #8's (c/e, d/e <= 1.5, 1.2)
        "targets": {"e_over_b": "<= 1.5", "peak_rss_x_arrow[c]": "<= 2.5"},
        "pii_share": {"c_over_e": round(c / e, 2), "d_over_e": round(d / e, 2)},
    }
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=list(CASES))
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.data)))
    else:
        print(json.dumps(main(), indent=1))
