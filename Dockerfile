# One image for every Airflow component of the production deployment (docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow DATA_MESH_HOME=/opt/data-mesh
RUN pip install --no-cache-dir "uv==0.13.8"
WORKDIR /opt/data-mesh
COPY requirements.lock pyproject.toml README.md ./
RUN uv pip install --system --no-cache -r requirements.lock
COPY plugins ./plugins
COPY dags ./dags
COPY domains ./domains
COPY expectations ./expectations
COPY demo ./demo
RUN uv pip install --system --no-cache --no-deps -e . && useradd --uid 50000 --create-home airflow \
    && mkdir -p /opt/airflow /opt/data-mesh/data && chown -R airflow /opt/airflow /opt/data-mesh/data
USER airflow
