"""Fetching a source through pagination: the platform's fetch against a bare `requests` loop over the
same pages, measured in the same run.

The demo CRM serves one day of orders, 1,000 per page with a cursor (scale 500: about 1M rows; scale
50: about 100k). Each case runs in a fresh process against a warmed server (its own process, so the
server's JSON encoding does not share the client's GIL):

* bare: `requests.Session.get` + `.json()` per page, following `next_cursor`, each record written as
  one NDJSON line (what the platform stores too);
* platform: `data_mesh.sources.http.fetch_source`, with its paginator registry, retry policy,
  request deadline and staging files.

Targets: platform rows per second >= 0.8 x bare, and the platform's peak RSS grows by at most
100 MB from 100k to 1M rows (memory flat with the size of the source: one page at a time).

Peak RSS is the case process's own high-water mark (`VmHWM`, which starts afresh at exec):
`ru_maxrss` would not do, a child inherits its parent's across fork and exec, so every case
reported the bench driver's peak and the memory target measured nothing.
"""

from __future__ import annotations

import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.fresh_process import REPO, measure

DAY = "2026-11-20"
TOKEN = "demo-crm-token"  # the demo server's fake CRM credential (demo.launcher.DEMO_SECRETS)
REPEAT = 3
SCALES = {"100k": 50, "1M": 500}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def demo_server(scale: float):
    """The demo source server in its own process, warmed on DAY (its day cache filled)."""
    import requests

    port = _free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--scale", str(scale), "--quiet"]
    server = subprocess.Popen([sys.executable, "-m", "demo.source_server", *args], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{url}/_control/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        requests.get(f"{url}/crm/v1/orders", params={"date": DAY, "limit": 1}, headers=headers, timeout=600)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_case(case: str, url: str, out: Path) -> dict:
    started = time.perf_counter()
    rows = _bare(url, out) if case == "bare" else _platform(url, out)
    seconds = time.perf_counter() - started
    return {"case": case, "rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (Linux `VmHWM`); elsewhere `ru_maxrss`, an upper bound."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bare(url: str, out: Path) -> int:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    rows, cursor = 0, None
    with open(out / "bare.ndjson", "w", encoding="utf-8") as sink:
        while True:
            params = {"date": DAY, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            answer = session.get(f"{url}/crm/v1/orders", params=params, timeout=60)
            answer.raise_for_status()
            body = answer.json()
            for record in body["data"]:
                sink.write(json.dumps(record))
                sink.write("\n")
                rows += 1
            cursor = body.get("next_cursor")
            if not cursor:
                return rows


def _platform(url: str, out: Path) -> int:
    from data_mesh.contract.spec import Auth, HttpSource
    from data_mesh.sources.connection import ConnectionInfo
    from data_mesh.sources.http import fetch_source

    source = HttpSource(
        name="orders",
        conn_id="sales_crm_api",
        endpoint="/crm/v1/orders",
        params={"date": "{partition}"},
        pagination="cursor",
        auth=Auth.BEARER,
        page_size=1000,
    )
    result = fetch_source(source, ConnectionInfo(host=url, password=TOKEN), out, {"partition": DAY})
    return result.records


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> dict:
    results: dict = {}
    for label, scale in SCALES.items():
        with demo_server(scale) as url, tempfile.TemporaryDirectory() as tmp:
            cases = ("bare", "platform") if label == "1M" else ("platform",)
            runs: dict[str, list[dict]] = {c: [] for c in cases}
            for _ in range(REPEAT):  # interleaved: a change of the machine's load hits both cases alike
                for case in cases:
                    runs[case].append(measure("bench.fetch", case, url, tmp))
        results[label] = {
            c: {k: _median(r, k) for k in ("rows", "seconds", "peak_rss_mb")} for c, r in runs.items()
        }
    big, small = results["1M"], results["100k"]
    bare_rate = big["bare"]["rows"] / big["bare"]["seconds"]
    platform_rate = big["platform"]["rows"] / big["platform"]["seconds"]
    return {
        "runs": results,
        "rows_per_second": {"bare": round(bare_rate), "platform": round(platform_rate)},
        "platform_over_bare": round(platform_rate / bare_rate, 3),
        "target_platform_over_bare": ">= 0.8",
        "rss_growth_100k_to_1M_mb": round(
            big["platform"]["peak_rss_mb"] - small["platform"]["peak_rss_mb"], 1
        ),
        "target_rss_growth_mb": "<= 100",
    }


if __name__ == "__main__":
    print(json.dumps(run_case(sys.argv[1], sys.argv[2], Path(sys.argv[3]))))
