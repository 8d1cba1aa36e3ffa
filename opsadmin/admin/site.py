"""The portal's admin site: unfold's site, installed as Django's default admin site."""

from unfold.sites import UnfoldAdminSite


class OpsAdminSite(UnfoldAdminSite):
    site_header = "Stockscanner ops"
    site_title = "Stockscanner ops"
    index_title = "Dashboard"
