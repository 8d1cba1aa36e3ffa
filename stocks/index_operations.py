"""Migration operations that build indexes without blocking writes where the database can."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class AddIndexConcurrentlyWhereSupported(AddIndexConcurrently):
    """`CREATE INDEX CONCURRENTLY` on PostgreSQL, a plain `CREATE INDEX` elsewhere.

    Django's AddIndexConcurrently is PostgreSQL-only; the embedded SQLite default
    has no concurrent builds (and no concurrent writers to block), so it takes the
    ordinary path there. The migration using it must be `atomic = False`.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
