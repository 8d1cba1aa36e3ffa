"""Admin actions on model change lists, generated from the capabilities' declared ModelActions.

A capability says "on the Stock list, an action runs invalidate_stocks with the selected
tickers"; here that becomes an admin action on whatever ModelAdmin the model is
registered with (the domain's own admin never imports the ops portal). It shows only to
users with the write's permission, and a write that asks for a confirmation gets
Django's delete_selected treatment: a page saying what will happen, to what, how big,
with the selection carried through, before anything runs.
"""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, Action, ActionLocation

from opsadmin.admin.operation_page import CONFIRMED, confirmation_response, styled
from opsadmin.admin.submitting import submit_and_tell
from opsadmin.spine import registry
from opsadmin.spine.arguments import confirmation_fields
from opsadmin.spine.runs import InvalidArguments, validate_before_confirming


def attach_declared_actions(site=None):
    """Give every registered ModelAdmin the actions the capabilities declare on its model."""
    site = site or admin.site
    for model, model_admin in list(site._registry.items()):
        declared = registry.model_actions(model._meta.label)
        if not declared:
            continue
        site.unregister(model)
        site.register(model, declared_actions_admin(type(model_admin), declared))


def declared_actions_admin(admin_class, declared):
    """`admin_class` with `declared` [(capability, ModelAction)] added to its change list's actions."""
    actions = []
    for capability, action in declared:
        write = capability.write(action.write)
        actions.append((write, action, make_action(write, action)))

    class WithDeclaredActions(admin_class):
        def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
            found = super().get_actions(request, action_location)
            if self.actions is None or IS_POPUP_VAR in request.GET or action_location != ActionLocation.CHANGE_LIST:
                return found
            for write, action, function in actions:
                if request.user.has_perm(write.permission_name):
                    found[action.name] = Action(
                        func=function,
                        name=action.name,
                        description=action.description,
                        plural_description=action.description,
                        locations=[ActionLocation.CHANGE_LIST],
                    )
            return found

    WithDeclaredActions.__name__ = WithDeclaredActions.__qualname__ = admin_class.__name__
    return WithDeclaredActions


def make_action(write, action):
    """The admin action function of a declared ModelAction."""

    def run_declared_write(model_admin, request, queryset):
        data = action.arguments(queryset)
        confirmed = CONFIRMED in request.POST
        if confirmed:
            data.update({name: request.POST.get(name, "") for name in confirmation_fields(write.form_class)})
        try:
            confirmation = write.confirmation(validate_before_confirming(write.form_class, data))
        except InvalidArguments:
            confirmation = None  # submitting says what is wrong, as every door does
        if confirmation is not None and not confirmed:
            return confirmation_response(
                request,
                model_admin.admin_site,
                write,
                confirmation,
                hidden=_selection(request, action),
                typed_form=styled(write.form_class()),
                errors=[],
                cancel_url=request.get_full_path(),
            )
        submit_and_tell(request, write, data)
        return None

    run_declared_write.__name__ = action.name
    return run_declared_write


def _selection(request, action):
    """What brings the confirmation page's POST back to this action with the same rows selected."""
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    pairs = [("action", action.name), ("select_across", request.POST.get("select_across", "0"))]
    return pairs + [(helpers.ACTION_CHECKBOX_NAME, pk) for pk in selected]
