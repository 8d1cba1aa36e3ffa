"""The capabilities of this portal: listed once in PORTAL_CAPABILITIES, loaded once at start-up.

Each entry is a package whose `capability` module holds `CAPABILITY`, a Capability.
`load` checks the declarations hang together before anything serves (unique names,
known permissions, a status read that exists) and registers their system checks; every
door then asks this module, never a capability's package, what there is.
"""

from importlib import import_module

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from opsadmin.models import OPS_PERMISSIONS
from opsadmin.spine.results import COLOURS
from opsadmin.spine.targets import CHOSEN_PROCESSES, ONE_PROCESS

_capabilities = {}  # name -> Capability, in the order PORTAL_CAPABILITIES lists them
_writes = {}  # write name -> (Capability, Write)
BASE_PERMISSIONS = {codename for codename, _ in OPS_PERMISSIONS}  # OpsRun's Meta.permissions, made by migrate


def load(paths):
    """Import and check the capabilities of `paths` (replacing any loaded before)."""
    loaded = [import_module(f"{path}.capability").CAPABILITY for path in paths]
    known = BASE_PERMISSIONS | {permission.codename for capability in loaded for permission in capability.permissions}
    capabilities, writes = {}, {}
    for capability in loaded:
        _check(capability, capabilities, writes, known)
        capabilities[capability.name] = capability
        writes.update({write.name: (capability, write) for write in capability.writes})
    _capabilities.clear()
    _capabilities.update(capabilities)
    _writes.clear()
    _writes.update(writes)
    for capability in loaded:
        for system_check in capability.system_checks:
            checks.register(system_check, "opsadmin")
        for signal, receiver in capability.receivers:
            # Connected once however often the portal loads (the tests reload): keyed by the receiver.
            signal.connect(receiver, weak=False, dispatch_uid=f"{receiver.__module__}.{receiver.__qualname__}")


def capabilities():
    return list(_capabilities.values())


def scheduled():
    """Every capability's scheduled work (what the task worker runs on its own), in declaration order."""
    return [job for capability in _capabilities.values() for job in capability.scheduled]


def get_capability(name):
    return _capabilities[name]


def get_write(name):
    """The declared write `name` (KeyError when there is none)."""
    return _writes[name][1]


def writes():
    """Every declared write, in declaration order."""
    return [write for _, write in _writes.values()]


def permissions():
    """The ops permissions the capabilities bring (opsadmin.spine.permissions creates them after migrate)."""
    return [permission for capability in _capabilities.values() for permission in capability.permissions]


def colours():
    """Every state word the pages show, with its colour: the spine's, then each capability's own."""
    declared = {word: colour for capability in _capabilities.values() for word, colour in capability.colours.items()}
    return {**COLOURS, **declared}


def changelist_capability(model_label):
    """The capability whose page is this model's change list ("app_label.ModelName"), or None."""
    return next((c for c in _capabilities.values() if c.changelist.lower() == model_label.lower()), None)


def health_checks():
    """The health checks the capabilities bring, in declaration order."""
    return [check for capability in _capabilities.values() for check in capability.health_checks]


def model_actions(model_label):
    """(capability, action) for the admin actions declared on a model ("app_label.ModelName")."""
    return [
        (capability, action)
        for capability in _capabilities.values()
        for action in capability.actions
        if action.model.lower() == model_label.lower()
    ]


def _check(capability, capabilities, writes, known_permissions):
    """Refuse a declaration that would make two doors disagree or a permission that can never be granted."""
    where = f"capability {capability.name!r}"
    if capability.name in capabilities:
        raise ImproperlyConfigured(f"{where} is listed twice")
    names = [read.name for read in capability.reads] + [write.name for write in capability.writes]
    if len(names) != len(set(names)):
        raise ImproperlyConfigured(f"{where}: a read and a write, or two of them, share a name: {names}")
    for write in capability.writes:
        if write.name in writes:
            raise ImproperlyConfigured(f"{where}: write {write.name!r} is declared by two capabilities")
    permissions = [(read.name, read.permission) for read in capability.reads]
    permissions += [(write.name, write.permission) for write in capability.writes]
    permissions += [("page", capability.page.permission)] if capability.page else []
    for owner, permission in permissions:
        if permission not in known_permissions:
            raise ImproperlyConfigured(f"{where}: {owner} needs {permission!r}, which is not an ops permission")
    for write in capability.writes:
        if ONE_PROCESS in write.targets and not {"instance", "pid"} <= set(write.form_class.base_fields):
            raise ImproperlyConfigured(f"{where}: {write.name} runs in one process: its form needs instance and pid")
        if CHOSEN_PROCESSES in write.targets and "processes" not in write.form_class.base_fields:
            raise ImproperlyConfigured(f"{where}: {write.name} runs in chosen processes: its form needs processes")
    if capability.status and capability.status not in {read.name for read in capability.reads}:
        raise ImproperlyConfigured(f"{where}: its status read {capability.status!r} is not among its reads")
    for action in capability.actions:
        if action.write not in {write.name for write in capability.writes}:
            raise ImproperlyConfigured(f"{where}: action {action.name!r} runs {action.write!r}, not one of its writes")
    for alias in capability.aliases:
        if not (alias.read in names or alias.write in names):
            raise ImproperlyConfigured(f"{where}: alias {alias.path!r} points at nothing it declares")
