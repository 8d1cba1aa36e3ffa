"""How the admin door submits a declared write and tells staff how it went (its pages and its actions)."""

from django.contrib import messages
from django.urls import reverse
from django.utils.html import format_html

from opsadmin.models import OpsRun
from opsadmin.spine.runs import Actor, InvalidArguments, submit
from portal.accounts.callers import Caller

LEVELS = {
    OpsRun.Status.SUCCEEDED: messages.SUCCESS,
    OpsRun.Status.PARTLY_FAILED: messages.WARNING,
    OpsRun.Status.FAILED: messages.ERROR,
    OpsRun.Status.REFUSED: messages.ERROR,
}


def submit_as(request, write, data):
    """Submit `write` for the logged-in user from the admin; raises InvalidArguments like every door."""
    return submit(write, data, actor=Actor.of(Caller(request.user)), door=OpsRun.Door.ADMIN)


def tell(request, write, run):
    """One message about a submitted run: queued, done (with what it left behind), partly failed or failed."""
    link = format_html(
        '<a class="underline" href="{}">run #{}</a>', reverse("admin:opsadmin_opsrun_change", args=[run.pk]), run.pk
    )
    if not run.finished:
        messages.info(request, format_html("{}: sent as {}; its page follows it.", write.title, link))
        return
    text = run.summary or run.error or run.get_status_display()
    if run.status in (OpsRun.Status.FAILED, OpsRun.Status.REFUSED):
        text = f"{write.title} {run.get_status_display().lower()}: {run.error or run.summary}"
    level = LEVELS[run.status]
    if run.problems and level == messages.SUCCESS:
        level, text = messages.WARNING, f"{text} Left behind: {'; '.join(run.problems)}"
    messages.add_message(request, level, format_html("{} ({})", text, link))


def submit_and_tell(request, write, data):
    """An admin action's door: submit, then say how it went, or why it was refused; returns the run or None."""
    try:
        run = submit_as(request, write, data)
    except InvalidArguments as invalid:
        if invalid.run:  # a destructive write's refused attempt: its run says why
            tell(request, write, invalid.run)
        else:
            messages.error(request, f"{write.title}: {invalid}")
        return None
    tell(request, write, run)
    return run
