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
