"""Alembic migrations of the metadata store (applied by `data_mesh.metadata.store.engine.migrate`)."""
