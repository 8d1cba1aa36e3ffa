"""The rate-limits capability (capability.py): the scanner API's limiter, its tiers, and resetting callers' counters.

sections (the status read and the page), health_check (a warning while the limiter fails open),
writes (the reset, its form and the Membership action). The counting is the domain's:
stocks/rate_limits.py.
"""
