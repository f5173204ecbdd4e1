"""tickets: the building's index also holds category and time, for the duplicate check

A submission looks for an open report of the same category at the same building within a day
(webapp/tickets/submission.py, _duplicate_id). With ix_tickets_building_status on (building_id,
status) only, PostgreSQL's plan for it also read ix_tickets_open_category: every open ticket
of the category filed that day, in the whole database (3,284 index entries, 0.4 ms, on a
busy benchmark day), on every submission. With category_id and created_at in the building's
index the check is one short range of one building's index (3 pages). The index keeps its
name and its leading columns: what read it by building and status still does.

On PostgreSQL the index is rebuilt, which locks writes to tickets while it runs (a quiet hour
for a large tickets table).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_building_status')
        batch_op.create_index(
            'ix_tickets_building_status', ['building_id', 'status', 'category_id', 'created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_building_status')
        batch_op.create_index('ix_tickets_building_status', ['building_id', 'status'], unique=False)
