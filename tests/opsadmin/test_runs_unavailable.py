"""A write that meets a dependency that is out fails with its breaker's message: a failure, not a crash."""

from django import forms

from opsadmin.models import OpsRun
from opsadmin.runtime.breakers import OPEN, Unavailable
from opsadmin.spine import runs
from opsadmin.spine.capability import Write


def needs_the_database():
    raise Unavailable("database", OPEN, 4)


WRITE = Write("needs_the_database", "Needs the database", "view_ops", forms.Form, needs_the_database)


def test_the_run_fails_with_the_reason_and_no_traceback_is_logged(caplog):
    outcome = runs.execute(WRITE, OpsRun(pk=1, operation=WRITE.name, actor="test"), {}, progress=None)
    reason = "database unavailable: circuit breaker open, retry in 4 s"
    assert outcome == {"status": OpsRun.Status.FAILED, "summary": reason, "result": None, "error": reason}
    assert not caplog.records
