"""Quarantine retention: batches older than DATA_MESH_QUARANTINE_RETENTION_DAYS are pruned, newer kept."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from data_mesh import conf
from data_mesh.pipeline.quarantine import prune_quarantine

DAY = 86_400


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DATA_MESH_QUARANTINE_ROOT", str(tmp_path / "quarantine"))
    monkeypatch.delenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", raising=False)
    return tmp_path / "quarantine"


def quarantined(root: Path, product: str, partition: str, run: str, age_days: float) -> Path:
    """A quarantined batch as validate leaves it, last modified `age_days` ago."""
    folder = root / product / partition / run
    folder.mkdir(parents=True)
    (folder / "batch.parquet").write_bytes(b"PAR1")
    (folder / "report.json").write_text("{}")
    when = time.time() - age_days * DAY
    for path in (folder / "batch.parquet", folder / "report.json", folder):
        os.utime(path, (when, when))
    return folder


def test_retention_defaults_to_14_days_and_is_validated(monkeypatch):
    monkeypatch.delenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", raising=False)
    assert conf.quarantine_retention_days() == 14
    monkeypatch.setenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", "3")
    assert conf.quarantine_retention_days() == 3
    for bad in ("-1", "nan", "two weeks"):
        monkeypatch.setenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", bad)
        with pytest.raises(ValueError):
            conf.quarantine_retention_days()


def test_older_than_the_retention_is_pruned_newer_is_kept(root, caplog):
    old = quarantined(root, "marketing.ads_performance", "2026-10-01", "manual__a", age_days=15)
    new = quarantined(root, "marketing.ads_performance", "2026-11-19", "manual__b", age_days=13)
    other = quarantined(root, "sales.customer_orders", "2026-10-02", "scheduled__c", age_days=20)
    with caplog.at_level(logging.INFO, logger="data_mesh.pipeline.quarantine"):
        pruned = prune_quarantine()
    assert sorted(pruned) == sorted([old, other])
    assert not old.exists() and not other.exists() and (new / "report.json").exists()
    # emptied partition and product folders go too; a folder still holding a batch stays
    assert not old.parent.exists() and not (root / "sales.customer_orders").exists()
    assert new.parent.exists()
    messages = [r.getMessage() for r in caplog.records]
    assert any("marketing.ads_performance partition 2026-10-01 run manual__a" in m for m in messages)
    assert any("sales.customer_orders partition 2026-10-02 run scheduled__c" in m for m in messages)


def test_the_retention_setting_is_honoured(root, monkeypatch):
    batch = quarantined(root, "marketing.ads_performance", "2026-11-17", "manual__a", age_days=3)
    monkeypatch.setenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", "5")
    assert prune_quarantine() == [] and batch.exists()
    monkeypatch.setenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", "2")
    assert prune_quarantine() == [batch] and not batch.exists()


def test_age_is_the_newest_file_of_the_batch(root):
    batch = quarantined(root, "marketing.ads_performance", "2026-11-01", "manual__a", age_days=30)
    (batch / "report.json").write_text("{}")  # quarantined again just now (the same run id re-ran)
    os.utime(batch, (time.time() - 30 * DAY, time.time() - 30 * DAY))
    assert prune_quarantine() == [] and batch.exists()


def test_one_product_only(root):
    ads = quarantined(root, "marketing.ads_performance", "2026-10-01", "manual__a", age_days=30)
    orders = quarantined(root, "sales.customer_orders", "2026-10-01", "manual__b", age_days=30)
    assert prune_quarantine("marketing.ads_performance") == [ads]
    assert orders.exists()
    with pytest.raises(ValueError):
        prune_quarantine("../etc")


def test_symbolic_links_are_not_followed(root, tmp_path):
    target = tmp_path / "elsewhere"
    precious = quarantined(target, "p", "2026-10-01", "r", age_days=30)
    root.mkdir(parents=True)
    (root / "linked.product").symlink_to(target / "p")
    assert prune_quarantine() == [] and precious.exists()
