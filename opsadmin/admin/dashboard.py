"""The dashboard (admin index): a tile per capability, then the capabilities' cards.

Built from the status sections the user may read (opsadmin.spine.sections): each tile
is its capability's section (headline, detail, status), linking to its page; a
capability that declares a card template shows it below, with its section.
"""

from dataclasses import dataclass

from opsadmin.admin.pages import page_url
from opsadmin.spine import registry
from opsadmin.spine.sections import readable_sections


@dataclass
class Tile:
    name: str
    title: str
    value: str
    detail: str
    status: str
    href: str

    @property
    def colour(self):
        return registry.colours().get(self.status, "default")


def dashboard_callback(request, context):
    """UNFOLD["DASHBOARD_CALLBACK"]: the ops overview, of what this user may read."""
    sections = readable_sections(request.user.has_perm)
    if not sections:
        return context
    context["tiles"] = [
        Tile(capability.name, capability.title, section.headline, section.detail, section.status, page_url(capability))
        for capability, section in sections
    ]
    context["cards"] = [
        {"capability": capability, "section": section, "template": capability.card}
        for capability, section in sections
        if capability.card
    ]
    return context
