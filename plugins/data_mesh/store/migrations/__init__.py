"""Alembic migrations of the metadata store (applied by `data_mesh.store.engine.migrate`)."""
