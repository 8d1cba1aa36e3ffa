"""Capabilities, one package each, listed in PORTAL_CAPABILITIES.

Each package declares itself once in its `capability` module (opsadmin.spine.capability):
its reads (plain functions returning a Section), its writes (plain functions returning a
Report, each with its form, permission and target), its page, checks and admin actions.
Nothing here knows HTTP, argparse or templates, and no capability imports another.
"""
