"""privacy: phone numbers sealed at rest, found by a keyed hash

people.phone and tickets.contact_phone now hold sealed values (webapp/privacy/sealing.py:
Fernet under a key derived from PERSONAL_DATA_KEY, prefixed "f1:"), so they widen to 255
characters; people.phone_hash and tickets.contact_phone_hash, indexed, hold their keyed lookup
hashes. Existing plain numbers are sealed and hashed here, in batches, with the key the app is
configured with: set PERSONAL_DATA_KEY before `flask db upgrade` in production.

Anonymous wishes keep their reporter_key: those of before this revision are the keyed hash of
their author (still found under "mine" until retention purges them); new ones are the hash of a
per-wish secret (webapp/tickets/wishes.py). Nothing to convert.

On PostgreSQL widening a varchar and adding a nullable column rewrite nothing; the two index
builds lock writes to their table while they run (a quiet hour for a large tickets table).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:00:00

"""
import sqlalchemy as sa
from alembic import op

# The app's own sealing (same key, same format as the running app reads): a migration that
# seals must seal as the app opens.
from webapp.privacy.rekeying import SEALED_COLUMNS, reseal_column

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.alter_column('phone', existing_type=sa.String(length=20), type_=sa.String(length=255),
                              existing_nullable=True)
        batch_op.add_column(sa.Column('phone_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_people_phone_hash'), ['phone_hash'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column('contact_phone', existing_type=sa.String(length=20),
                              type_=sa.String(length=255), existing_nullable=True)
        batch_op.add_column(sa.Column('contact_phone_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_contact_phone_hash'), ['contact_phone_hash'], unique=False)
    for table, column, hash_column in SEALED_COLUMNS:
        reseal_column(op.get_bind(), table, column, hash_column, sealing=True)


def downgrade():
    for table, column, hash_column in SEALED_COLUMNS:
        reseal_column(op.get_bind(), table, column, hash_column, sealing=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_contact_phone_hash'))
        batch_op.drop_column('contact_phone_hash')
        batch_op.alter_column('contact_phone', existing_type=sa.String(length=255),
                              type_=sa.String(length=20), existing_nullable=True)
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_phone_hash'))
        batch_op.drop_column('phone_hash')
        batch_op.alter_column('phone', existing_type=sa.String(length=255),
                              type_=sa.String(length=20), existing_nullable=True)
