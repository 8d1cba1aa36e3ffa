"""The admin sidebar: a group per ops concern, built from the capabilities, then the data, the people, and access.

A capability shows under its declared group, linking to its page or its model's change
list, for users with its view permission (its page's, or its status read's).
"""

from django.urls import reverse_lazy

from opsadmin.admin.pages import page_url
from opsadmin.spine import registry


def _has_perm(permission):
    return lambda request: request.user.has_perm(permission)


def _model(title, icon, app_model, permission_app=None):
    app, model = app_model.lower().split(".")
    link = reverse_lazy(f"admin:{app}_{model}_changelist")
    return {
        "title": title,
        "icon": icon,
        "link": link,
        "permission": _has_perm(f"{permission_app or app}.view_{model}"),
    }


def capability_item(capability):
    """A capability's sidebar item, or None when it has nowhere to link to."""
    link = page_url(capability)
    if not link:
        return None
    title = capability.nav_title or capability.title
    return {"title": title, "icon": capability.icon, "link": link, "permission": _has_perm(capability.view_permission)}


def sidebar(request):
    """UNFOLD["SIDEBAR"]["navigation"]: called per request, so items can depend on the user."""
    groups = {"Dashboard": [{"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")}]}
    for capability in registry.capabilities():
        if item := capability_item(capability):
            groups.setdefault(capability.group, []).append(item)
    groups["Market data"] = [
        _model("Stocks", "candlestick_chart", "stocks.stock"),
        _model("Daily bars", "bar_chart", "stocks.dailybar"),
        _model("Memberships", "workspace_premium", "stocks.membership"),
    ]
    groups["Users and tokens"] = [
        _model("Users", "person", "auth.user"),
        _model("Groups", "group", "auth.group"),
        _model("API tokens", "key", "accounts.apitoken"),
    ]
    groups["Access"] = [
        {"title": "Second factor", "icon": "phonelink_lock", "link": reverse_lazy("admin:second_factor")},
        _model("Access attempts", "lock_person", "axes.accessattempt"),
        _model("Access failures", "gpp_maybe", "axes.accessfailurelog"),
        _model("Access logs", "login", "axes.accesslog"),
        _model("TOTP devices", "phonelink_setup", "otp_totp.totpdevice"),
    ]
    return [{"title": title, "items": items} for title, items in groups.items()]
