"""The server's memory settings against advice for the machine's memory, and where that memory figure came from.

The advice is PGTune's for a web application (pgtune.leopard.in.ua, le0pard/pgtune), which
spells out the PostgreSQL wiki's "Tuning Your PostgreSQL Server" as formulas:
shared_buffers a quarter of the memory, effective_cache_size three quarters,
maintenance_work_mem a sixteenth (at most 2 GiB), work_mem what is left after shared_buffers
shared by three sorts per connection and by the workers of a parallel query, and
random_page_cost 1.1 on SSDs (4, the default, on spinning disks: the storage is not known here).

SQL can't tell the machine's memory: it comes from PORTAL_DATABASE_MEMORY, else (only when
the database is on this host) from psutil, else it is unknown and no memory advice is given.
"""

from dataclasses import dataclass

import psutil
from django.conf import settings
from django.db import connection

from opsadmin.spine import humanize

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}  # "" is libpq's Unix socket: this host too
MAINTENANCE_WORK_MEM_CAP = 2 * 1024**3
WORK_MEM_FLOOR = 64 * 1024
NEAR = 2  # a setting within a factor of 2 of the advice is near it: the formulas are rules of thumb
SSD_RANDOM_PAGE_COST = 1.1

NEAR_ADVICE, BELOW, ABOVE, NOT_JUDGED = "near advice", "below advice", "above advice", "not judged"


@dataclass
class Memory:
    bytes: int | None
    source: str  # "PORTAL_DATABASE_MEMORY", "this machine (psutil): the database is on localhost", "unknown"


@dataclass
class Advice:
    name: str
    value: str  # the server's, as SHOW says it
    advised: str  # "4.0 GiB", "1.1 on SSDs, 4 on spinning disks", "—" when the memory is unknown
    verdict: str  # near advice, below advice, above advice, not judged
    why: str


def machine_memory():
    """The database machine's memory: the setting, else this machine's when the database is local, else unknown."""
    if settings.PORTAL_DATABASE_MEMORY:
        return Memory(settings.PORTAL_DATABASE_MEMORY, "PORTAL_DATABASE_MEMORY")
    host = (connection.settings_dict.get("HOST") or "").strip().lower()
    if host in LOCAL_HOSTS or host.startswith("/"):
        return Memory(psutil.virtual_memory().total, "this machine (psutil): the database is on localhost")
    return Memory(None, "unknown: set PORTAL_DATABASE_MEMORY")


def advice(server, memory):
    """One Advice per memory setting and random_page_cost, given `server` (catalog.server_settings())."""
    ram = memory.bytes
    shared = server["shared_buffers"].bytes
    connections = int(server["max_connections"].value)
    workers = max(1, int(server["max_parallel_workers_per_gather"].value))
    advised = {
        "shared_buffers": (ram and ram // 4, "a quarter of the memory"),
        "effective_cache_size": (ram and ram * 3 // 4, "three quarters of the memory: what the OS caches too"),
        "maintenance_work_mem": (
            ram and min(ram // 16, MAINTENANCE_WORK_MEM_CAP),
            "a sixteenth of the memory, at most 2 GiB: VACUUM and index builds",
        ),
        "work_mem": (
            ram and max((ram - shared) // (connections * 3) // workers, WORK_MEM_FLOOR),
            f"(memory - shared_buffers) / ({connections:,} connections x 3) / {workers} parallel worker(s)",
        ),
    }
    found = [_judge(server[name], size, why) for name, (size, why) in advised.items()]
    cost = float(server["random_page_cost"].value)
    found.append(
        Advice(
            "random_page_cost",
            server["random_page_cost"].value,
            f"{SSD_RANDOM_PAGE_COST} on SSDs, 4 on spinning disks",
            NOT_JUDGED,
            "the storage is unknown here"
            + (": on SSDs the default of 4 makes index scans look dearer than they are" if cost >= 4 else ""),
        )
    )
    return found


def _judge(setting, size, why):
    if not size:
        return Advice(setting.name, setting.value, humanize.DASH, NOT_JUDGED, "the machine's memory is unknown")
    verdict = BELOW if setting.bytes * NEAR < size else ABOVE if setting.bytes > size * NEAR else NEAR_ADVICE
    return Advice(setting.name, setting.value, humanize.byte_size(size), verdict, why)
