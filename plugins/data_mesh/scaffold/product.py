"""`data-mesh new-product <domain>.<product>`: sample the source, infer, write contract + suite + transform.

Order matters for the "nothing half-written" invariant: the names, the domain, the paginator and the
partition are checked and the three target files are known to be absent *before* the source is asked;
then the sample is inferred and rendered; only then are the files created, each exclusively (`"x"`
mode), so a file that appeared in the meantime is never overwritten (and the ones already written in
this call are removed again).

The DAG needs no wiring: `dags/<domain>.py` builds one DAG per contract in `domains/<domain>/`, so the
product's DAG appears at the next parse, as an import error naming each TODO (policy `global.decided`)
until a person has filled them in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from data_mesh.contract.odcs import CONTRACT_SUFFIX
from data_mesh.contract.partition import PartitionWindow, parse_partition, window_of
from data_mesh.contract.spec import TODO_MARKER, Auth, Granularity, HttpSource
from data_mesh.scaffold.domain import Layout, check_name, domain_info
from data_mesh.scaffold.infer import Inference, infer
from data_mesh.scaffold.render import ProductDraft, contract_yaml, suite_json, transform_py
from data_mesh.scaffold.sample import fetch_sample


@dataclass(frozen=True)
class SourceOptions:
    """The source as the command line gives it (the contract's `customProperties.sources[0]`)."""

    conn_id: str
    endpoint: str
    pagination: str = "none"
    auth: str = "none"
    params: dict[str, str] = field(default_factory=dict)
    records_field: str = "data"
    cursor_field: str = "next_cursor"
    page_size: int = 500
    name: str | None = None  # the source's name in the contract; default: the endpoint's last segment


@dataclass(frozen=True)
class ScaffoldedProduct:
    """What `new_product` wrote and what it inferred them from."""

    product_id: str
    files: tuple[Path, ...]
    inference: Inference
    window: PartitionWindow
    todos: int  # TODO markers written (each one a `global.decided` finding)


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`["date={partition}", "k=v"]` -> a dict; ValueError naming a pair without `=`."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {pair!r}: expected key=value (e.g. date={{partition}})")
        params[key.strip()] = value
    return params


def source_of(options: SourceOptions) -> HttpSource:
    """The `HttpSource` the contract will declare; ValueError for an unknown paginator or auth."""
    from data_mesh.sources import pagination

    pagination.get(options.pagination)  # ValueError naming the registered paginators
    try:
        auth = Auth(options.auth)
    except ValueError:
        known = ", ".join(a.value for a in Auth)
        raise ValueError(f"unknown auth {options.auth!r}; known: {known}") from None
    if not options.endpoint.strip() or not options.conn_id.strip():
        raise ValueError("--source (an Airflow connection id) and --endpoint (a path) are required")
    if options.page_size < 1:
        raise ValueError(f"--page-size must be >= 1, not {options.page_size}")
    segment = [s for s in re.split(r"[/{}]", options.endpoint) if s.strip() and "." not in s]
    name = options.name or re.sub(r"[^0-9a-z]+", "_", (segment or ["records"])[-1].lower()).strip("_")
    return HttpSource(
        name=name or "records",
        conn_id=options.conn_id,
        endpoint=options.endpoint,
        params=dict(options.params),
        pagination=options.pagination,
        auth=auth,
        records_field=options.records_field,
        cursor_field=options.cursor_field,
        page_size=options.page_size,
    )


def sample_window(granularity: Granularity, key: str | None, today: date | None = None) -> PartitionWindow:
    """The partition to sample: the one given, else the last complete day or month."""
    if key:
        return parse_partition(granularity, key)
    today = today or date.today()
    last = today - timedelta(days=1) if granularity == "day" else today.replace(day=1) - timedelta(days=1)
    return window_of(granularity, last)


def new_product(
    product_id: str,
    options: SourceOptions,
    *,
    granularity: Granularity = "day",
    partition_column: str | None = None,
    sample_partition: str | None = None,
    layout: Layout | None = None,
) -> ScaffoldedProduct:
    """Scaffold the product; ValueError (nothing written) when any check or the sample fails."""
    layout = layout or Layout.current()
    domain_name, dot, name = product_id.partition(".")
    if not dot:
        raise ValueError(f"{product_id!r}: name the product as <domain>.<product>")
    check_name("domain", domain_name)
    check_name("product", name)
    if granularity not in ("day", "month"):
        raise ValueError(f"--partition {granularity!r}: day or month")
    domain = domain_info(domain_name, layout)
    targets = (
        layout.domains / domain_name / f"{name}{CONTRACT_SUFFIX}",
        layout.expectations / domain_name / f"{name}.json",
        layout.domains / domain_name / f"{name}.py",
    )
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise ValueError(f"{product_id} already exists, nothing was overwritten: {', '.join(existing)}")
    source = source_of(options)
    window = sample_window(granularity, sample_partition)
    inference = infer(fetch_sample(source, window), partition_column=partition_column)
    draft = ProductDraft(domain, name, source, inference, granularity, _gx_version())
    texts = (contract_yaml(draft), suite_json(draft), transform_py(draft))
    _write_all(targets, texts)
    return ScaffoldedProduct(product_id, targets, inference, window, texts[0].count(TODO_MARKER))


def _write_all(paths: tuple[Path, ...], texts: tuple[str, ...]) -> None:
    written: list[Path] = []
    try:
        for path, text in zip(paths, texts, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
            written.append(path)
    except FileExistsError as error:
        for path in written:
            path.unlink()
        raise ValueError(f"{error.filename} appeared meanwhile; nothing was overwritten") from None


def _gx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("great_expectations")
    except PackageNotFoundError:
        return "1.x"
