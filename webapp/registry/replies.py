"""Reply templates: the ready-made replies staff pick when they resolve a ticket or answer a
wish (table reply_templates; a template without a category serves every category)."""
from __future__ import annotations

from sqlalchemy import or_, select

from webapp.extensions import db
from webapp.registry.models import ReplyTemplate


def replies_for(category_id: int | None) -> list[str]:
    """The texts offered for a ticket of this category: its own, then those of every
    category, each group in its sort order."""
    query = select(ReplyTemplate.text).order_by(
        ReplyTemplate.category_id.is_(None), ReplyTemplate.sort_order, ReplyTemplate.id
    )
    if category_id is None:
        query = query.where(ReplyTemplate.category_id.is_(None))
    else:
        query = query.where(
            or_(ReplyTemplate.category_id == category_id, ReplyTemplate.category_id.is_(None))
        )
    return list(db.session.scalars(query))


def add_reply(text: str, *, category_id: int | None = None, sort_order: int = 0) -> bool:
    """Add a template unless the same text is already there for that category; returns
    whether it was added (the demo's seeding runs at every start). Flushes."""
    exists = db.session.scalar(
        select(ReplyTemplate.id).where(
            ReplyTemplate.text == text,
            ReplyTemplate.category_id.is_(None) if category_id is None
            else ReplyTemplate.category_id == category_id,
        )
    )
    if exists is not None:
        return False
    db.session.add(ReplyTemplate(text=text, category_id=category_id, sort_order=sort_order))
    db.session.flush()
    return True
