"""Alembic environment of the metadata store.

Normally run through `data_mesh.metadata.store.engine.migrate`, which passes an open connection in
`config.attributes["connection"]` (and holds the cross-process migration lock). Without one (a
developer running alembic by hand) it connects to `sqlalchemy.url` or `data_mesh.conf.metadata_url()`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from data_mesh.metadata.store.models import ALEMBIC_VERSION_TABLE, metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=ALEMBIC_VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from data_mesh.conf import metadata_url

        url = metadata_url()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=ALEMBIC_VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
