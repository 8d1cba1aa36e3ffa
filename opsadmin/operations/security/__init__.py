"""The security capability (capability.py): a checklist grading the deployment's settings and the headers it sends."""
