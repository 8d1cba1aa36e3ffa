"""The environment variables the code reads, found by parsing it, and what docs/deployment.md says of them.

Shared by tests/portal/test_deployment_docs.py (the doc names every variable, and no stale one) and
tests/portal/test_deploy.py (deploy/'s stop timeouts against the shutdown defaults). How a read is recognised:
test_deployment_docs.py's docstring.
"""

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deployment.md"
SOURCES = ("portal", "opsadmin", "stocks", "manage.py")
# portal/environment.py's readers (every env_* function it defines), and os.getenv.
READERS = {
    *(
        node.name
        for node in ast.parse((REPO / "portal" / "environment.py").read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("env_")
    ),
    "getenv",
}
ENVIRON_METHODS = {"get", "setdefault"}


@dataclass
class Reads:
    names: dict = field(default_factory=dict)  # name -> "path:line" of its first read
    patterns: dict = field(default_factory=dict)  # compiled regex of an f-string name -> "path:line"
    defaults: dict = field(default_factory=dict)  # name -> {literal default given to a portal reader}


def is_environ(node):
    """`os.environ` (or a bare `environ` imported from os)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def called_name(call):
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)


def module_constants(tree):
    """{NAME: "value"} of the module's top-level string assignments."""
    constants = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            for target in statement.targets:
                if isinstance(target, ast.Name) and isinstance(statement.value.value, str):
                    constants[target.id] = statement.value.value
    return constants


def variable_of(node, constants):
    """The variable an argument names: a str, a compiled pattern for an f-string, or None (not known here)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(part.value) if isinstance(part, ast.Constant) else "[A-Z0-9_]+" for part in node.values]
        return re.compile("".join(parts))
    return None


def is_read_call(call):
    """A call of a portal reader, `os.getenv`, or `os.environ.get` / `.setdefault`."""
    name = called_name(call)
    return name in READERS or (
        name in ENVIRON_METHODS and isinstance(call.func, ast.Attribute) and is_environ(call.func.value)
    )


def is_environ_membership(node):
    """`"NAME" in os.environ` (or `not in`)."""
    return (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.In | ast.NotIn)
        and is_environ(node.comparators[0])
    )


def read_arguments(tree):
    """Each expression naming a variable the module reads."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            if is_read_call(node):
                yield node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_environ(node.value):
            yield node.slice
        elif is_environ_membership(node):
            yield node.left


def constant_value(node):
    """A literal default: a number or string, or arithmetic on numbers (`10 * 1024 * 1024`); None otherwise."""
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float | str)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add | ast.Pow):
        left, right = constant_value(node.left), constant_value(node.right)
        if isinstance(left, int | float) and isinstance(right, int | float):
            return {ast.Mult: left * right, ast.Add: left + right, ast.Pow: left**right}[type(node.op)]
    return None


def reader_defaults(tree, constants):
    """{name: {default, ...}} of reads with a literal name and a literal default (`os.environ.get`'s "" is none)."""
    defaults = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and is_read_call(node)):
            continue
        default = (
            node.args[1]
            if len(node.args) > 1
            else next((keyword.value for keyword in node.keywords if keyword.arg == "default"), None)
        )
        name = variable_of(node.args[0], constants)
        value = constant_value(default) if default is not None else None
        if isinstance(name, str) and value not in (None, ""):
            defaults.setdefault(name, set()).add(value)
    return defaults


def source_files():
    for source in SOURCES:
        path = REPO / source
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


@functools.cache
def variables_the_code_reads():
    reads = Reads()
    for path in source_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        constants = module_constants(tree)
        for name, values in reader_defaults(tree, constants).items():
            reads.defaults.setdefault(name, set()).update(values)
        for argument in read_arguments(tree):
            variable = variable_of(argument, constants)
            where = f"{path.relative_to(REPO)}:{argument.lineno}"
            if isinstance(variable, str):
                reads.names.setdefault(variable, where)
            elif variable is not None:
                reads.patterns.setdefault(variable, where)
    return reads


def doc_text():
    return DOC.read_text()


def names_in_backticks(text):
    """Upper-case names inside inline code spans (`PORTAL_BIND`, `PORTAL_BIND=0.0.0.0:8000`), not code blocks."""
    inline = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return {name for span in re.findall(r"`([^`\n]+)`", inline) for name in re.findall(r"\b[A-Z][A-Z0-9_]+\b", span)}


def documented_defaults(text):
    """{name: the first code span of its row's default cell} for table rows "| `NAME` | `value` ... | ... |"."""
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| `([^`]+)`", text, re.M)
    return dict(rows)


def portal_names_in(text):
    return set(re.findall(r"\bPORTAL_[A-Z0-9_]*[A-Z0-9]\b", text))
