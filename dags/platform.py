"""The platform's own DAGs: `data_mesh__slo`, the freshness SLO of every data product, with alerts."""

from data_mesh import build_platform_dags

globals().update(build_platform_dags())
