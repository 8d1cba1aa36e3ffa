"""Database index and table health: catalog, drift, suggestions (reads); maintenance, reports, sessions (writes)."""
