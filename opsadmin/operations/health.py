"""Health (read): the readiness verdict of this process with every check's detail, for staff."""

from opsadmin.health_endpoints import readiness


def health_status():
    """The cached readiness verdict (at most one check run per period), with each check's message."""
    verdict = readiness.verdict()
    return {
        "status": verdict.status,
        "failing": verdict.failing,
        "degraded": verdict.degraded,
        "warnings": verdict.warnings,
        "checks": [
            {
                "name": result.check.name,
                "critical": result.check.critical,
                "status": _check_status(result, verdict),
                "message": str(result.error) if result.error else "",
                "seconds": round(result.time_taken, 4),
            }
            for result in verdict.results
        ],
    }


def _check_status(result, verdict):
    if result.error is None:
        return "ok"
    name = result.check.name
    return "warning" if name in verdict.warnings else "failing" if name in verdict.failing else "degraded"
