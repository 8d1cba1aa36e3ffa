"""The admin sidebar, grouped by ops concern. A group is listed once it has a page."""

from django.urls import reverse_lazy


def _has_perm(permission):
    return lambda request: request.user.has_perm(permission)


def _item(title, icon, url_name, permission):
    return {"title": title, "icon": icon, "link": reverse_lazy(url_name), "permission": _has_perm(permission)}


def _model(title, icon, app_model, permission_app=None):
    app, model = app_model.split(".")
    return _item(title, icon, f"admin:{app}_{model}_changelist", f"{permission_app or app}.view_{model}")


def sidebar(request):
    """UNFOLD["SIDEBAR"]["navigation"]: called per request, so items can depend on the user."""
    return [
        {
            "title": "Dashboard",
            "items": [{"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")}],
        },
        {
            "title": "Health",
            "items": [_item("Health", "monitor_heart", "admin:ops_health", "opsadmin.view_ops")],
        },
        {
            "title": "Database",
            "items": [_item("Indexes and tables", "database", "admin:ops_database", "opsadmin.view_ops")],
        },
        {
            "title": "Caches",
            "items": [_item("Caches", "memory", "admin:ops_caches", "opsadmin.view_ops")],
        },
        {
            "title": "Runtime",
            "items": [_item("Instances", "dns", "admin:opsadmin_instance_changelist", "opsadmin.view_ops")],
        },
        {
            "title": "Audit log",
            "items": [_model("Ops runs", "history", "opsadmin.opsrun")],
        },
        {
            "title": "Market data",
            "items": [
                _model("Stocks", "candlestick_chart", "stocks.stock"),
                _model("Daily bars", "bar_chart", "stocks.dailybar"),
                _model("Memberships", "workspace_premium", "stocks.membership"),
            ],
        },
        {
            "title": "Users and tokens",
            "items": [
                _model("Users", "person", "auth.user"),
                _model("Groups", "group", "auth.group"),
                _model("API tokens", "key", "opsadmin.apitoken"),
            ],
        },
    ]
