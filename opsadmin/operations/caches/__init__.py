"""The caches capability (capability.py): what each cache alias holds, and scoped clearing.

stores (where an alias keeps its keys, its prefix, its neighbours), inventory (the panels and
hit ratio staff read), clearing (deleting by prefix or pattern, flushing on confirmation),
stock_entries (one stock's cached data), sections (the reads), writes (the declared writes).
"""
