"""Regenerate migration 0001 from the models (only until the first release ships a database).

Usage: .venv/bin/python tools/regen_initial_migration.py
"""
import os
import tempfile
from pathlib import Path

from flask_migrate import revision, upgrade

from webapp import create_app

VERSIONS = Path(__file__).resolve().parent.parent / "webapp" / "migrations" / "versions"

for old in VERSIONS.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    app = create_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{os.path.join(tmp, 'empty.sqlite3')}")
    with app.app_context():
        upgrade()
        revision(message="initial schema", autogenerate=True, rev_id="0001")
