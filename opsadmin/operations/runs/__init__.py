"""The audit log capability (capability.py): every ops run, as the API, the dashboard and the commands read it."""
