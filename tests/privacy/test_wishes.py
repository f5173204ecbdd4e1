"""Anonymous wishes unlinkable to each other: each carries the keyed hash of a secret of its own,
which only its author's device gets; "mine" lists them for the secrets presented; the author
still reads and rates a wish by id; wishes of before migration 0007 stay in their author's list."""
from __future__ import annotations

import hashlib
import hmac
import uuid

from tests.factories import auth_headers, submit
from webapp.extensions import db
from webapp.keys import derived_key
from webapp.people.models import Person
from webapp.tickets import wishes
from webapp.tickets.models import Ticket


def _wish(client, headers, registry, key=None, **fields):
    return submit(client, headers, registry.codes[registry.buildings[0].id], key=key, kind="wish",
                  category="wish", description="希望楼下多装一盏路灯", anonymous=True, **fields)


def _mine(client, headers, *secrets):
    extra = {"X-Wish-Secrets": ",".join(secrets)} if secrets else {}
    response = client.get("/api/v1/tickets/mine", headers={**headers, **extra})
    assert response.status_code == 200, response.get_json()
    return [t["id"] for t in response.get_json()["items"]]


def test_two_anonymous_wishes_of_one_person_share_nothing_stored(client, registry, resident, reader):
    first, second = _wish(client, resident, registry).get_json(), _wish(client, resident, registry).get_json()
    rows = [db.session.get(Ticket, w["id"]) for w in (first, second)]
    person_id = db.session.query(Person.id).filter_by(openid="privacy-resident").scalar()
    assert rows[0].reporter_key != rows[1].reporter_key
    assert not {r.reporter_key for r in rows} & set(wishes.reporter_keys(person_id))
    assert all(r.reporter_id is None and r.contact_phone is None for r in rows)
    assert first["author_secret"] != second["author_secret"] and len(first["author_secret"]) == 43
    assert {first["author_secret"], second["author_secret"]}.isdisjoint({r.reporter_key for r in rows})


def test_mine_lists_the_anonymous_wishes_whose_secrets_are_presented(client, registry, resident, reader):
    first, second = _wish(client, resident, registry).get_json(), _wish(client, resident, registry).get_json()
    report = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    assert "author_secret" not in report
    assert _mine(client, resident) == [report["id"]]
    assert set(_mine(client, resident, first["author_secret"])) == {report["id"], first["id"]}
    assert set(_mine(client, resident, first["author_secret"], second["author_secret"])) == {
        report["id"], first["id"], second["id"]}


def test_a_retry_with_the_same_key_gets_the_same_secret(client, registry, resident, reader):
    key = str(uuid.uuid4())
    first = _wish(client, resident, registry, key=key)
    again = _wish(client, resident, registry, key=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["author_secret"] == first.get_json()["author_secret"]
    assert _mine(client, resident, again.get_json()["author_secret"]) == [first.get_json()["id"]]


def test_the_author_reads_and_rates_by_id_and_nobody_else_does(client, registry, resident, reader):
    wish = _wish(client, resident, registry).get_json()
    assert client.get(f"/api/v1/tickets/{wish['id']}", headers=resident).get_json()["is_reporter"] is True
    other = auth_headers(client, openid="privacy-other")
    assert client.get(f"/api/v1/tickets/{wish['id']}", headers=other).status_code == 404
    # A secret is a capability: another account presenting it lists the wish, no more.
    assert _mine(client, other, wish["author_secret"]) == [wish["id"]]
    staff = auth_headers(client, reader)
    for action in ("accept", "resolve"):
        body = {"action": action, "note": "已联系物业"} if action == "resolve" else {"action": action}
        assert client.post(f"/api/v1/tickets/{wish['id']}/actions", json=body, headers=staff).status_code == 200
    assert client.post(f"/api/v1/tickets/{wish['id']}/feedback", json={"resolved": True, "rating": 5},
                       headers=other).status_code == 404
    rated = client.post(f"/api/v1/tickets/{wish['id']}/feedback", json={"resolved": True, "rating": 5}, headers=resident)
    assert rated.status_code == 200 and rated.get_json()["status"] == "closed"


def test_a_malformed_secrets_header_is_a_clear_422(client, registry, resident):
    response = client.get("/api/v1/tickets/mine", headers={**resident, "X-Wish-Secrets": "not-a-secret"})
    assert response.status_code == 422
    body = response.get_json()
    assert "X-Wish-Secrets" in str(body["errors"]) and "匿名心愿凭证" in str(body["errors"])
    too_many = ",".join(["A" * 43] * 101)
    assert client.get("/api/v1/tickets/mine", headers={**resident, "X-Wish-Secrets": too_many}).status_code == 422


def test_a_wish_of_before_secrets_stays_in_its_authors_list(app, client, registry, resident, reader):
    wish = _wish(client, resident, registry).get_json()
    person_id = db.session.query(Person.id).filter_by(openid="privacy-resident").scalar()
    legacy = hmac.new(derived_key("wish-reporter"), f"reporter:{person_id}".encode(), hashlib.sha256).hexdigest()
    db.session.get(Ticket, wish["id"]).reporter_key = legacy
    db.session.commit()
    assert _mine(client, resident) == [wish["id"]]


def test_the_openapi_document_states_the_extension(client):
    spec = client.get("/api/openapi.json").get_json()
    mine = spec["paths"]["/api/v1/tickets/mine"]["get"]
    header = [p for p in mine["parameters"] if p["name"] == "X-Wish-Secrets"]
    assert header and header[0]["in"] == "header" and "pattern" in header[0]["schema"]
    names = {p["name"] for p in mine["parameters"]}
    assert {"cursor", "limit"} <= names
    created = spec["paths"]["/api/v1/tickets"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][created["$ref"].rsplit("/", 1)[-1]]
    assert "author_secret" in schema["properties"]
    assert "delete" in spec["paths"]["/api/v1/me"]
