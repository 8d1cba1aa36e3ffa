"""One evaluation: every rule, its incidents opened or resolved, reminders, then what is queued is sent.

The task worker runs it every PORTAL_ALERTS_EVALUATE_SECONDS (capability.py declares it as scheduled work; the
worker's scheduler thread runs it), never a web process and never per request; `manage.py ops run
evaluate_alerts` runs it once, from cron for instance. A rule that raises is recorded as not evaluated, with its
error, and the others go on; a database that does not answer ends the evaluation (there is nowhere to record it),
and the next one tries again.
"""

import logging
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.utils import timezone

from opsadmin.models import AlertRuleState
from opsadmin.operations.alerts import delivery, incidents
from opsadmin.operations.alerts.rules import RULES, Context, Evaluation
from opsadmin.runtime import breakers, identity
from opsadmin.spine.arguments import first_line

logger = logging.getLogger(__name__)

FIRING, OK, NOT_EVALUATED = "firing", "ok", "not evaluated"


@dataclass
class Outcome:
    """What an evaluation found and did."""

    evaluated_at: object
    firing: dict[str, int] = field(default_factory=dict)  # rule -> incidents firing now
    not_evaluated: dict[str, str] = field(default_factory=dict)  # rule -> why not
    changes: incidents.Changes = field(default_factory=incidents.Changes)
    sent: int = 0
    failed: int = 0


def evaluate(now=None, host=identity.HOST):
    """Evaluate every rule now, apply what they found, and send what is queued."""
    now = now or timezone.now()
    kept = dict(AlertRuleState.objects.filter(evaluator=host).values_list("rule", "kept"))
    context = Context(now, kept, host)
    silenced = incidents.silenced_rules(now)
    outcome = Outcome(now)
    for rule in RULES:
        evaluation = _evaluate(rule, context)
        outcome.changes.add(incidents.apply(rule, evaluation, now, silenced=rule.name in silenced))
        _record_state(rule, evaluation, now, host, kept.get(rule.name))
        if evaluation.not_evaluated:
            outcome.not_evaluated[rule.name] = evaluation.not_evaluated
        else:
            outcome.firing[rule.name] = len(evaluation.firing)
    outcome.changes.add(incidents.remind(now, silenced))
    outcome.sent, outcome.failed = delivery.send_queued(now)
    return outcome


def _evaluate(rule, context):
    try:
        return rule.evaluate(context)
    except (DatabaseError, breakers.Unavailable):
        raise  # nowhere to record anything: the whole evaluation waits for the next
    except Exception as error:
        logger.exception("Alert rule %s could not be evaluated", rule.name)
        return Evaluation(not_evaluated=f"error: {first_line(error)}"[:500])


def _record_state(rule, evaluation, now, host, kept):
    state = NOT_EVALUATED if evaluation.not_evaluated else FIRING if evaluation.firing else OK
    AlertRuleState.objects.update_or_create(
        rule=rule.name,
        evaluator=host,
        defaults={
            "state": state,
            "reason": evaluation.not_evaluated[:500],
            "firing": len(evaluation.firing),
            "evaluated_at": now,
            "kept": evaluation.keep if evaluation.keep is not None else (kept or {}),
        },
    )
