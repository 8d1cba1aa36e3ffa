"""The `probe` capability of the tests: `whoami` runs in the one process its arguments name (also at a path
that names it); its status needs a permission of its own, which operators get and viewers don't."""

import os

from django import forms

from opsadmin.spine.capability import Alias, Capability, DeclaredPermission, Read, Write
from opsadmin.spine.results import OK, Report, Section
from opsadmin.spine.targets import ONE_PROCESS


class ProcessForm(forms.Form):
    instance = forms.CharField()
    pid = forms.IntegerField(min_value=1)


def whoami(*, instance, pid):
    return Report(summary=f"ran in pid {os.getpid()}")


def status():
    return Section(OK, "probed", "the tests' capability answers")


CAPABILITY = Capability(
    name="probe",
    title="Probe",
    icon="science",
    group="Tests",
    reads=(Read("status", "Probe status", status, permission="view_probe"),),
    writes=(Write("whoami", "Which process am I", "view_ops", ProcessForm, whoami, target=ONE_PROCESS),),
    status="status",
    permissions=(DeclaredPermission("view_probe", "Can view the probe"),),
    aliases=(Alias("probe/<str:instance>/<int:pid>/whoami/", "probe_whoami", write="whoami"),),
)
