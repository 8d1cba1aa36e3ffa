"""Front door 1: the admin site, built from the capabilities' declarations.

The sidebar, the capability pages, the dashboard's tiles and cards, the page of any
declared write (with its confirmation step) and the admin actions on model change lists
all come from opsadmin.spine.registry; nothing here names a capability.

This package also holds the site class that Django loads as `admin.site`, so it must
not register anything on import (that would use the site while it is being built):
OpsAdminConfig.ready() imports the registering modules instead.
"""
