"""Admin pages whose rows are written by the portal itself, never by hand."""


class ReadOnlyAdminMixin:
    """No add, change or delete from the admin: the audit log and the heartbeat-written instances."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
