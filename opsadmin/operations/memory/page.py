"""What the Memory page shows: the section (problems first), every worker, the chart, the machines, the raw JSON."""

from opsadmin.operations.memory import history, sections
from opsadmin.spine.results import to_json


def page_context():
    section = sections.fleet_memory()
    return {
        "heading": "Every worker" if section.ok else "Needs attention",
        "section": section,
        "memory": section.data,
        "chart": history.rss_chart(),
        "raw": to_json(section.data, indent=2),
    }
