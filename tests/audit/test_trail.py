"""The audit trail is append-only: entries are added and read, never changed or deleted."""
from __future__ import annotations

import pytest

from webapp.audit import trail
from webapp.audit.models import AuditEntry
from webapp.extensions import db


def test_record_appends_an_entry_in_the_callers_transaction(app_ctx):
    entry = trail.record(
        trail.Action.PASSWORD_SET, actor_id="someone", target_type="person", target_id=7,
        address="198.51.100.4", detail={"by": "cli"},
    )
    db.session.rollback()  # not committed: gone with the action it recorded
    assert db.session.get(AuditEntry, entry.id) is None
    trail.record(trail.Action.SIGN_OUT, actor_id="someone")
    db.session.commit()
    (kept,) = trail.entries(actor_id="someone")
    assert (kept.action, kept.target_id, kept.detail) == ("sign_out", None, {})


def test_an_entry_cannot_be_changed_or_deleted(app_ctx):
    entry = trail.record(trail.Action.SIGN_IN, actor_id="someone", detail={"method": "password"})
    db.session.commit()
    entry.action = "sign_out"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).action == "sign_in"


def test_the_trail_module_offers_no_way_to_change_an_entry():
    public = {name for name in vars(trail) if not name.startswith("_") and callable(getattr(trail, name))}
    assert not {name for name in public if any(w in name for w in ("update", "delete", "remove", "edit"))}


def test_every_action_has_a_chinese_label():
    assert set(trail.ACTION_LABELS) == set(trail.Action)
