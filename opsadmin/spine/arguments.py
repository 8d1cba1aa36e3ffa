"""What a door received, as the form data of a declared read or write.

Every door hands its input to the same form: a JSON body (the API), a query string (the
API's reads, the admin page's pre-filling), repeated `--set name=value` (the command
line) or a form POST (the admin). The rules here make those agree: a field that takes a
list takes a JSON list, repeated values or one comma-separated string; a JSON object or
list where one value is expected is refused; so is text no database can store (NUL,
lone surrogates); and a typed confirmation is never taken from a URL.
"""

import json
import math

from django import forms

from portal.text import storable_text

MAX_JSON_DEPTH = 20  # a write's body is one object of plain values or lists of them


class BadInput(ValueError):
    """Input that is not a well-formed JSON object of plain values; the message says why (safe to show)."""


def split_list(value):
    """A list of values from a JSON list, repeated values or one comma-separated string; stripped, without repeats."""
    if value in (None, "", [], ()):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise forms.ValidationError("Enter a list of values.", code="invalid_list")
    parts = (part.strip() for item in value for part in str(item).split(","))
    return list(dict.fromkeys(part for part in parts if part))


class ListField(forms.Field):
    """Several free values (see `split_list`)."""

    widget = forms.TextInput
    takes_a_list = True

    def to_python(self, value):
        return split_list(value)

    def prepare_value(self, value):
        """A list given as initial data (a page's link: ?pids=1&pids=2) shown as "1, 2" in the text box, not as
        a list's repr."""
        return ", ".join(str(item) for item in value) if isinstance(value, list | tuple) else value


class CanonicalListField(ListField):
    """Several values, each made canonical by `canonical` (raising ValueError or ValidationError for a bad one):
    every bad one listed in one error, duplicates dropped, at most `most` of them."""

    invalid_message = "Not valid"  # followed by the bad values
    noun = "values"
    most = 5000

    def canonical(self, item):
        return item

    def to_python(self, value):
        good, bad = [], []
        for item in super().to_python(value):
            try:
                good.append(self.canonical(item))
            except (ValueError, forms.ValidationError):
                bad.append(item)
        if bad:
            raise forms.ValidationError(f"{self.invalid_message}: {', '.join(bad[:20])}.", code="invalid")
        return list(dict.fromkeys(good))

    def validate(self, value):
        super().validate(value)
        if len(value) > self.most:
            raise forms.ValidationError(f"At most {self.most:,} {self.noun} at a time.", code="too_many")


class ChoiceListField(forms.MultipleChoiceField):
    """Several values among the field's choices (a callable, asked once however many values); unknown ones listed."""

    def __init__(self, *, unknown_message, **kwargs):
        self.unknown_message = unknown_message
        super().__init__(**kwargs)

    def to_python(self, value):
        return split_list(value)

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        known = {str(key) for key, _ in self.choices}
        if unknown := [item for item in value if item not in known]:
            raise forms.ValidationError(f"{self.unknown_message}: {', '.join(unknown)}.", code="invalid_choice")


class ConfirmationField(forms.CharField):
    """Text a person types to confirm a destructive write, on the page that shows what it will do.

    The admin door never pre-fills it from a link; the API and the command line take it as any field.
    """


def takes_a_list(field):
    """Whether a form field takes several values: a multiple-choice widget, or a field that says so."""
    return getattr(field.widget, "allow_multiple_selected", False) or getattr(field, "takes_a_list", False)


def confirmation_fields(form_class):
    return [name for name, field in form_class.base_fields.items() if isinstance(field, ConfirmationField)]


def unusable_values(form_class, data):
    """{field: [message]} for values no form should see: null, objects or nested lists, NUL, lone surrogates.

    A JSON null is refused rather than read: as a list item it would become the text
    "None", as a flag it would mean "no" (a dry run turned into a real one).
    """
    errors = {}
    getlist = getattr(data, "getlist", None)
    for name, field in form_class.base_fields.items():
        if name not in data:
            continue
        values = getlist(name) if getlist is not None else data[name]
        multiple = takes_a_list(field)
        items = values if isinstance(values, list) and (multiple or getlist is not None) else [values]
        if values is None or None in items:
            errors[name] = ["null is not a value here: leave the field out for its default."]
        elif isinstance(values, dict) or any(isinstance(item, dict | list) for item in items):
            errors[name] = ["Enter a list of values." if multiple else "Enter a single value, not a list or an object."]
        elif any(isinstance(item, str) and not storable_text(item) for item in items):
            errors[name] = ["Null characters and unpaired surrogates are not allowed."]
    return errors


def storable(value):
    """`value` (plain JSON data) with text no database can store shown escaped, as `ascii()` does."""
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    if isinstance(value, str) and not storable_text(value):
        return ascii(value)
    return value


def recorded_arguments(form_class, data):
    """The form's own fields from `data`, as JSON for the audit row (a form POST also carries its CSRF token)."""
    getlist = getattr(data, "getlist", None)
    arguments = {}
    for name, field in form_class.base_fields.items():
        if name in data:
            multiple = getlist is not None and takes_a_list(field)
            arguments[name] = getlist(name) if multiple else data[name]
    return arguments


def initial_from_query(form_class, query):
    """A form's initial values from a query string (the selections a page links with); never a confirmation."""
    skipped = set(confirmation_fields(form_class))
    initial = {}
    for name, field in form_class.base_fields.items():
        if name in query and name not in skipped:
            initial[name] = query.getlist(name) if takes_a_list(field) else query[name]
    return initial


def from_assignments(form_class, assignments):
    """Form data from `name=value` pairs (the command line's --set); a name given twice makes a list.

    Raises BadInput naming an unknown field or a pair without `=`.
    """
    data = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        name = name.strip()
        if not equals or not name:
            raise BadInput(f"{assignment!r} is not name=value")
        if name not in form_class.base_fields:
            known = ", ".join(form_class.base_fields) or "nothing"
            raise BadInput(f"no argument {name!r}: this takes {known}")
        if name in data:
            previous = data[name]
            data[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            data[name] = value
    return data


def json_object(body):
    """The JSON object in `body` (bytes; empty means {}), or BadInput saying what is wrong with it.

    Refused: invalid UTF-8 or JSON, anything but an object at the top, NaN, Infinity and
    numbers out of range, and nesting deeper than MAX_JSON_DEPTH. Text no database can
    store is refused per field, as on every door (`unusable_values`).
    """
    if not body:
        return {}
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadInput(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput(f"the body is not valid JSON: {first_line(error)}") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    _check_value(data, 0)
    return data


def _refuse_constant(name):
    raise BadInput(f"{name} is not a JSON number")


def _check_value(value, depth):
    if depth > MAX_JSON_DEPTH:
        raise BadInput(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput("the JSON body holds a number out of range")
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            _check_value(item, depth + 1)


def first_line(error):
    """An error's first line (a database error's DETAIL can quote data), or its type when it says nothing."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__
