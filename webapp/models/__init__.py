"""SQLAlchemy models; importing this package registers every table on the metadata."""
from webapp.models.base import new_id, utcnow
from webapp.models.categories import Category, Department, Responsibility, TicketKind
from webapp.models.codes import BuildingCode
from webapp.models.people import Person, Role, StaffAssignment
from webapp.models.places import Building, Community, Grid, Street, Unit
from webapp.models.tickets import OPEN_STATUSES, MeToo, Ticket, TicketEvent, TicketStatus

__all__ = [
    "Building",
    "BuildingCode",
    "Category",
    "Community",
    "Department",
    "Grid",
    "Person",
    "Responsibility",
    "Role",
    "StaffAssignment",
    "Street",
    "MeToo",
    "OPEN_STATUSES",
    "Ticket",
    "TicketEvent",
    "TicketKind",
    "TicketStatus",
    "Unit",
    "new_id",
    "utcnow",
]
