"""Health: the checks, the readiness model built on them, and the endpoints load balancers and staff read.

- `checks`: django-health-check check classes and the configured list (settings plus the
  checks capabilities declare);
- `readiness`: running them within budgets, and the cached, single-flight verdict;
- `views`: /health/live/, /health/ready/ (answered by a middleware) and the /health/ detail.
"""
