"""Alembic environment: runs on the connection :mod:`storage.migrate` hands over.

The application drives migrations itself (``porchlight serve`` upgrades at start), so the
usual ``alembic.ini`` URL handling is not needed; a developer generating a new revision runs
``python -m storage.migrate revision -m "what changed"``.
"""

from alembic import context

from storage.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through storage.migrate, which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
