"""Who is calling: API tokens, the access policy of every HTTP surface, and the local admin account.

A small app of its own so that every surface (the ops API, the health detail, and later
/metrics and the scanner API) shares one policy without importing the ops portal.
"""
