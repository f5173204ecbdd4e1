"""Turning tickets into the contract's shapes, showing each viewer only what they may see."""
from __future__ import annotations

from enum import Enum

from sqlalchemy import String, type_coerce

from webapp.people.actors import Actor
from webapp.tickets import access, ladder, names, photos
from webapp.tickets.models import STATUS_LABELS, Ticket, TicketStatus
from webapp.tickets.state_machine import ACTION_LABELS, Action


def as_is(value):
    return value


# The ticket's own columns a summary shows, in the order summary_of reads them; the last four
# are ids whose names come from webapp.tickets.names. Kind and status are read as their stored
# strings (their values), as every database driver gives them.
SUMMARY_COLUMNS = (
    Ticket.id, Ticket.number, type_coerce(Ticket.kind, String).label("kind"),
    type_coerce(Ticket.status, String).label("status"), Ticket.description, Ticket.level,
    Ticket.resolve_due_at, Ticket.accept_due_at, Ticket.is_overdue, Ticket.created_at,
    Ticket.me_too_count, Ticket.rating, Ticket.is_anonymous, Ticket.version,
    Ticket.category_id, Ticket.unit_id, Ticket.building_id, Ticket.assignee_id,
)
_STATUS_LABELS = {status.value: label for status, label in STATUS_LABELS.items()}
# Each kind of name (a module-level cache of webapp.tickets.names) by its index in a row.
_NAMED = {"categories": 14, "units": 15, "buildings": 16, "assignees": 17}


def names_for(rows, connection=None) -> dict:
    """The names the summaries of these rows (of SUMMARY_COLUMNS) show, by kind and id: at
    most one query per kind for what the process has not seen lately (on `connection`, a
    webapp.reads.read_connection, if given)."""
    return {kind: getattr(names, kind).get((row[i] for row in rows), connection) for kind, i in _NAMED.items()}


def summary_of(row, shown: dict, when=as_is) -> dict:
    """A ticket as lists show it (TicketSchema's fields, in its order) from a row of
    SUMMARY_COLUMNS and the names of `shown` (names_for); `when` formats the timestamps
    (fields.local_time for a response made without the schema)."""
    (
        ticket_id, number, kind, status, description, level, due_at, accept_due_at, is_overdue,
        created_at, me_too_count, rating, anonymous, version, category_id, unit_id, building_id,
        assignee_id,
    ) = row
    category_code, category_name = shown["categories"][category_id]
    return {
        "id": ticket_id,
        "number": number,
        "kind": kind,
        "category": category_code,
        "category_name": category_name,
        "status": status,
        "status_label": _STATUS_LABELS[status],
        "description": description,
        "unit": None if unit_id is None else shown["units"][unit_id],
        "building": shown["buildings"][building_id],
        "assignee": None if assignee_id is None else shown["assignees"][assignee_id],
        "level": level,
        "due_at": when(due_at),
        "accept_due_at": when(accept_due_at),
        "is_overdue": is_overdue,
        "created_at": when(created_at),
        "me_too_count": me_too_count,
        "rating": rating,
        "anonymous": anonymous,
        "version": version,
    }


_KEYS = tuple(column.key for column in SUMMARY_COLUMNS)


def _row(ticket: Ticket) -> tuple:
    """A ticket as a row of SUMMARY_COLUMNS (enums as their values, as the columns read them)."""
    return tuple(_plain(getattr(ticket, key)) for key in _KEYS)


def _plain(value):
    return value.value if isinstance(value, Enum) else value


class TicketPresenter:
    """Keeps the names of places, categories, units and people that several tickets of one
    response share. For a list, summaries() reads them for the whole page first (names_for),
    instead of a few queries per ticket.
    """

    def __init__(self, actor: Actor):
        self.actor = actor
        self.shown: dict[str, dict] = {kind: {} for kind in _NAMED}

    def remember(self, ticket: Ticket, filed_names) -> None:
        """Keep what a submission read of its new ticket (submission.TicketNames), so that
        summary() shows it without reading anything."""
        self.shown["buildings"][ticket.building_id] = filed_names.building
        self.shown["categories"][ticket.category_id] = filed_names.category
        if ticket.unit_id is not None:
            self.shown["units"][ticket.unit_id] = filed_names.unit
        if ticket.assignee_id is not None and filed_names.assignee is not None:
            self.shown["assignees"][ticket.assignee_id] = filed_names.assignee

    def _prefetch(self, rows: list[tuple]) -> None:
        missing = [row for row in rows if any(
            row[i] is not None and row[i] not in self.shown[kind] for kind, i in _NAMED.items()
        )]
        for kind, found in names_for(missing).items():
            self.shown[kind].update(found)

    def summaries(self, tickets: list[Ticket]) -> list[dict]:
        """The summary of each ticket of a list, reading shared names once for the list."""
        rows = [_row(t) for t in tickets]
        self._prefetch(rows)
        return [summary_of(row, self.shown) for row in rows]

    def summary(self, ticket: Ticket, when=as_is) -> dict:
        row = _row(ticket)
        self._prefetch([row])
        return summary_of(row, self.shown, when)

    def detail(self, ticket: Ticket) -> dict:
        """The ticket with its timeline. Photos WeChat found risky (hidden) are listed only to
        staff whose scope covers the ticket, as photos.photo_for_viewer serves them."""
        is_staff_view = access.in_staff_scope(self.actor, ticket)
        view = self.summary(ticket)
        view.update(
            timeline=[
                {
                    "at": e.at,
                    "action": e.action,
                    "action_label": ACTION_LABELS.get(Action(e.action), e.action),
                    "actor_role": e.actor_role,
                    "note": e.note,
                    "reason": e.reason,
                    "rule": e.rule,  # the routing rule of a submit or dispatch (routing.RULE_LABELS)
                    "photo_ids": e.photo_ids or [],
                }
                for e in ticket.events
            ],
            photo_ids=ticket.photo_ids or [],
            rating_comment=ticket.rating_comment,
            reopen_count=ticket.reopen_count,
            is_reporter=access.is_reporter(self.actor, ticket),
            contact_phone=ticket.contact_phone if is_staff_view else None,
            duplicate_of=ticket.duplicate_of_id if is_staff_view else None,
            needs_review=ticket.needs_review,
        )
        if not is_staff_view:
            _leave_out_hidden_photos(view)
        return view


def running_deadline(summary: dict):
    """The deadline a summary's ticket works against now, as ladder.overdue_since reads it:
    to accept while unaccepted, to resolve once accepted; None once resolved or closed."""
    if summary["status"] in {s.value for s in ladder.UNACCEPTED}:
        return summary["accept_due_at"]
    if summary["status"] == TicketStatus.ACCEPTED.value:
        return summary["due_at"]
    return None


def _leave_out_hidden_photos(view: dict) -> None:
    """Drop hidden photos from a detail's photo lists (one query, only if it has photos)."""
    listed = [*view["photo_ids"], *(i for event in view["timeline"] for i in event["photo_ids"])]
    hidden = photos.hidden_photo_ids(listed)
    if not hidden:
        return
    view["photo_ids"] = [i for i in view["photo_ids"] if i not in hidden]
    for event in view["timeline"]:
        event["photo_ids"] = [i for i in event["photo_ids"] if i not in hidden]
