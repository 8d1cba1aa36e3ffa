"""Ops capabilities, one module per concern: plain functions returning dataclass reports.

Reads are plain functions; writes are also declared with `declare_write` so the three
front doors (admin, JSON API, management command) share one permission, one
argument form and one audit trail.
"""
