"""Database index and table health: catalog reads, drift, suggestions (reads) and maintenance (writes)."""
