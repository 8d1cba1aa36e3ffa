"""The catalog of every door: each capability, its reads and writes, and the JSON path of each.

What `GET /api/ops/` and `manage.py ops list --json` print, so scripts can discover every
door. Paths come from the API's URL names (`ops_api:<capability>.<read or write>`).
"""

from django.urls import reverse

from opsadmin.spine import registry


def api_url_name(capability, name):
    return f"ops_api:{capability.name}.{name}"


def catalog():
    return {"capabilities": [describe_capability(capability) for capability in registry.capabilities()]}


def describe_capability(capability):
    return {
        "name": capability.name,
        "title": capability.title,
        "reads": [
            {
                "name": read.name,
                "title": read.title,
                "permission": read.permission_name,
                "path": reverse(api_url_name(capability, read.name)),
                "parameters": list(read.form_class.base_fields),
            }
            for read in capability.reads
        ],
        "writes": [
            {
                "name": write.name,
                "title": write.title,
                "permission": write.permission_name,
                "path": reverse(api_url_name(capability, write.name)),
                "target": "|".join(write.targets),
                "arguments": list(write.form_class.base_fields),
            }
            for write in capability.writes
        ],
    }
