"""Front door 1: the admin site, ops pages and admin actions.

This package also holds the site class that Django loads as `admin.site`, so it must
not register anything on import (that would use the site while it is being built):
OpsAdminConfig.ready() imports the registering modules instead.
"""
