"""The scanner's JSON API under /api/: the screen, a stock, its bars, the movers, the caller's usage.

Thin endpoints (endpoints.py) over the query shapes of stocks/querysets.py and the cached reads of
stocks/cached.py; the parameters and their errors in parameters.py, the answers in schemas.py, and
who may call and how often in site.py.
"""
