"""GET /api/openapi.json describes every endpoint of the API from the schemas that validate."""
from __future__ import annotations

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_complete(client, app):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    documented = {path for path in spec["paths"]}
    api_rules = {
        rule.rule.replace("<string:", "{").replace("<", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
    }
    assert api_rules <= documented
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
