"""Freshness SLOs: every product measured against its contract's freshness limit, alerts on change.

    evaluate.py    one product at one moment -> met / violated / unknown; whether an alert is due
    attainment.py  the share of a window in which the SLO was met (7 and 30 days), a daily series
    notifier.py    the Airflow notifiers alerts go through (a registry; a webhook by default)
    run.py         one evaluation of the whole mesh: measure, record, alert (the DAG's task body)
    report.py      a product's SLO for the API, the CLI and the UI
    dag.py         the platform DAG `data_mesh__slo` (light: imported by `dags/platform.py`)

Freshness itself (the newest partition's age against the contract's limit) is decided in one place,
`data_mesh.metadata.health`; this package records it over time and tells people when it changes.
"""
