"""Front door 2: the ops JSON API under /api/ops/, generated from the capabilities' declarations (urls.py)."""
