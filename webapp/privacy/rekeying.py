"""Sealing every stored phone number under the current PERSONAL_DATA_KEY: after a rotation
(`flask privacy rekey`), and once for the plain numbers of before migration 0007 (the
migration runs the same function).

It reads and writes the stored text itself (a plain column, not the models' SealedString), in
batches of the primary key's order: each value is opened with any accepted key, sealed with the
current one, and its lookup hash made again. Plain UPDATEs: a ticket's version and updated_at do
not change.
"""
from __future__ import annotations

import sqlalchemy as sa

from webapp.privacy.sealing import phone_hash, seal, sealed_with_current_key, unseal

# (table, column of the sealed value, column of its lookup hash)
SEALED_COLUMNS = (("people", "phone", "phone_hash"), ("tickets", "contact_phone", "contact_phone_hash"))
BATCH = 1000


def reseal_column(connection, table_name: str, column: str, hash_column: str, *, sealing: bool = True,
                  batch: int = BATCH, only_stale: bool = False) -> int:
    """Seal again (or, sealing=False, open: a migration's downgrade) every non-null value of
    table.column; returns the rows written. only_stale: leave alone the values the current key
    already sealed (a Fernet token does not say its key: it is tried first)."""
    table = sa.table(table_name, sa.column("id"), sa.column(column), sa.column(hash_column))
    value = table.c[column]
    change = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values({column: sa.bindparam("b_value"), hash_column: sa.bindparam("b_hash")})
    )
    after, written = "", 0
    while True:
        rows = connection.execute(
            sa.select(table.c.id, value).where(value.is_not(None), table.c.id > after)
            .order_by(table.c.id).limit(batch)
        ).all()
        if not rows:
            return written
        params = []
        for row_id, stored in rows:
            if only_stale and sealed_with_current_key(stored):
                continue
            plain = unseal(stored)
            params.append({
                "b_id": row_id,
                "b_value": seal(plain) if sealing else plain,
                "b_hash": phone_hash(plain) if sealing else None,
            })
        if params:
            connection.execute(change, params)
            written += len(params)
        after = rows[-1][0]


def rekey_all(connection, *, batch: int = BATCH) -> dict[str, int]:
    """Every sealed column under the current key; {table: rows written}."""
    return {
        table: reseal_column(connection, table, column, hash_column, batch=batch, only_stale=True)
        for table, column, hash_column in SEALED_COLUMNS
    }
