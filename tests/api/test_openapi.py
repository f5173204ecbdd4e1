"""GET /api/openapi.json describes every endpoint of the API from the schemas that validate."""
from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_complete(client, app):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    # Every operation of the URL map is documented, and only those: see
    # test_the_document_and_the_url_map_name_the_same_operations below.
    create = spec["paths"]["/api/v1/tickets"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/TicketCreate")
    ticket_create = spec["components"]["schemas"]["TicketCreate"]
    assert set(ticket_create["required"]) == {"code", "kind", "category", "description"}
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_the_error_schema_is_the_shape_every_error_has(client):
    spec = client.get("/api/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "message", "errors"}
    assert error["properties"]["code"]["type"] == "string"
    answer = client.get("/api/v1/tickets/mine")  # a real error: no token
    assert answer.status_code == 401
    assert set(answer.get_json()) == set(error["properties"])
    assert isinstance(answer.get_json()["code"], str)


def test_the_document_states_the_rules_the_server_enforces(client):
    spec = client.get("/api/openapi.json").get_json()
    create = spec["paths"]["/api/v1/tickets"]["post"]
    (key,) = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["schema"]["maxLength"] == 100 and key["schema"]["minLength"] == 1
    mine = spec["paths"]["/api/v1/tickets/mine"]["get"]
    (cursor,) = [p for p in mine["parameters"] if p["name"] == "cursor"]
    assert cursor["schema"]["pattern"] == "^[A-Za-z0-9_-]+$"
    assert "invalid_characters" in spec["info"]["description"]


# Flask's "<converter(args):name>" or "<name>" in a rule, OpenAPI's "{name}" in a path.
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>[a-z_]+)(?:\([^)]*\))?:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")
CONVERTER_TYPES = {None: "string", "string": "string", "any": "string", "path": "string",
                   "uuid": "string", "int": "integer", "float": "number"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _url_map_operations(app) -> dict[tuple[str, str], dict[str, str]]:
    """(METHOD, OpenAPI path) of every /api/v1 rule, with the type of each path variable."""
    operations = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = RULE_VARIABLE.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        variables = {m["name"]: CONVERTER_TYPES[m["converter"]] for m in RULE_VARIABLE.finditer(rule.rule)}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operations[(method, path)] = variables
    return operations


def _documented_operations(spec) -> dict[tuple[str, str], dict[str, str]]:
    """(METHOD, path) of every documented operation, with the type of each path parameter."""
    operations = {}
    for path, item in spec["paths"].items():
        shared = [p for p in item.get("parameters", [])]
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            parameters = shared + operation.get("parameters", [])
            operations[(method.upper(), path)] = {
                p["name"]: p["schema"]["type"] for p in parameters if p["in"] == "path"
            }
    return operations


def test_the_document_and_the_url_map_name_the_same_operations(client, app):
    """Every /api/v1 route (method + path) is documented, every documented operation is a real
    route, and each path variable is a documented path parameter of the converter's type."""
    spec = client.get("/api/openapi.json").get_json()
    routes = _url_map_operations(app)
    documented = _documented_operations(spec)
    assert len(routes) >= 20  # the contract's operations, not an empty map
    assert sorted(set(routes) - set(documented)) == [], "routes missing from the document"
    assert sorted(set(documented) - set(routes)) == [], "documented operations with no route"
    for operation, variables in routes.items():
        assert documented[operation] == variables, operation
        for name in variables:
            assert "{" + name + "}" in operation[1]


def test_the_url_map_comparison_reads_flask_rules_as_openapi_paths():
    """The rule translation the comparison relies on: converters, arguments, bare names."""
    assert RULE_VARIABLE.sub(lambda m: "{" + m["name"] + "}", "/a/<int:grid_id>/b/<x>") == "/a/{grid_id}/b/{x}"
    found = [(m["converter"], m["name"]) for m in RULE_VARIABLE.finditer("/p/<string(length=8):code>/<path:rest>")]
    assert found == [("string", "code"), ("path", "rest")]
