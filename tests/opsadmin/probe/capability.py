"""The `probe` capability of the tests: `whoami` runs in the one process its arguments name."""

import os

from django import forms

from opsadmin.spine.capability import Capability, Write
from opsadmin.spine.results import Report
from opsadmin.spine.targets import ONE_PROCESS


class ProcessForm(forms.Form):
    instance = forms.CharField()
    pid = forms.IntegerField(min_value=1)


def whoami(*, instance, pid):
    return Report(summary=f"ran in pid {os.getpid()}")


CAPABILITY = Capability(
    name="probe",
    title="Probe",
    icon="science",
    group="Tests",
    writes=(Write("whoami", "Which process am I", "view_ops", ProcessForm, whoami, target=ONE_PROCESS),),
)
