"""Templates kept in each capability's own package: `opsadmin/operations/<name>/templates/`.

A template loader (listed in TEMPLATES in portal/settings.py), so a capability's page and
dashboard card live beside its code: adding a capability stays one package and one line.
"""

from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.template.loaders.filesystem import Loader


class CapabilityTemplatesLoader(Loader):
    def get_dirs(self):
        return [Path(import_module(path).__file__).parent / "templates" for path in settings.PORTAL_CAPABILITIES]
