"""The alerts capability (capability.py): in-app notifications of the Prometheus rules' events, for sites
without Alertmanager.

rules (what each alert watches, one small function per rule), request_metrics (this host's request figures,
from gunicorn's metrics files), incidents (open once, resolve once, remind, acknowledge: the state machine),
messages (what a message says), delivery (email and webhook, from an outbox), evaluator (one evaluation: the
task worker runs it on a schedule), sections (the reads and the page), writes.
"""
