"""The slow dangers capability: wraparound, sequences, NOT VALID constraints, bloat, vacuum, settings, replication."""

from opsadmin.operations.database_risks import sections
from opsadmin.operations.database_risks.dangers import DANGERS
from opsadmin.operations.database_risks.health_check import SlowDanger
from opsadmin.spine.capability import Capability, DeclaredCheck, Page, Read

CAPABILITY = Capability(
    name="database_risks",
    title="Slow dangers",
    icon="hourglass_bottom",
    group="Database",
    nav_title="Wraparound, sequences and bloat",
    reads=(
        Read("dangers", "Every slow danger", sections.everything),
        Read("wraparound", "Transaction ID wraparound", sections.wraparound),
        Read("sequences", "Sequences near their limit", sections.sequences),
        Read("constraints", "NOT VALID constraints", sections.constraints),
        Read("bloat", "Estimated table and index bloat", sections.bloat),
        Read("vacuum", "Dead rows and autovacuum", sections.vacuum),
        Read("settings", "Autovacuum and memory settings", sections.server_settings),
        Read("replication", "Replication slots and replicas", sections.replication),
    ),
    status="dangers",
    page=Page("opsadmin/database_risks.html", sections.page_context),
    health_checks=tuple(DeclaredCheck(f"pg:{name}", SlowDanger, {"danger": name}) for name in DANGERS),
)
