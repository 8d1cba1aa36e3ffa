import pytest


@pytest.fixture
def probes_do_not_beat(monkeypatch):
    """Readiness probes beat from a pool thread, whose rows would outlive the test's transaction: not here."""
    from opsadmin.health import readiness

    monkeypatch.setattr(readiness, "beat_as_web_process", lambda: None)
