"""The bare baseline: a plain Flask app with one JSON endpoint and no database.

`GET /bare/<code>` answers a dict shaped and sized like a typical scan of a building (about
1.4 kB of JSON with Chinese text, serialised per request by Flask's JSON provider), so the
ratio scan/bare measures what the product adds on top of Flask + gunicorn + JSON: routing
through flask-smorest, the database round trips, the ORM and serialisation of the real data.

With BENCH_DATABASE_URL set, `GET /bare-db/<code>` answers the same dict after one indexed
read (`SELECT building_id FROM building_codes WHERE code = ?`) through a SQLAlchemy engine
with the app's engine options (BENCH_ENGINE_OPTIONS, JSON), in autocommit on PostgreSQL as
the scan reads: the floor of any endpoint that
reads the database once per request, which splits the scan's gap to bare into "a database
read per request" and "what the app adds".

Served as `gunicorn bench.bare_app:app` with the same worker settings as the real app.
"""
from __future__ import annotations

import json
import os

from flask import Flask

app = Flask(__name__)
app.json.ensure_ascii = False
app.json.sort_keys = False

_CATEGORIES = [
    ("light", "楼道照明", "report"), ("fire_lane", "消防通道堵塞", "report"),
    ("garbage", "垃圾清运", "report"), ("parking", "乱停乱放", "report"),
    ("noise", "噪音扰民", "report"), ("greenery", "绿化养护", "report"),
    ("elevator", "电梯故障", "report"), ("water", "供水故障", "report"),
    ("power", "停电跳闸", "report"), ("gas", "燃气泄漏", "report"),
    ("wish", "心语心愿", "wish"), ("suggestion", "意见建议", "wish"),
]
_CONTACTS = [
    ("网格员", "张桂", "138****8047", []),
    ("专业网格员", "曹超静", "137****4101", ["电梯故障"]),
    ("专业网格员", "朱军", "139****4643", ["供水故障"]),
    ("专业网格员", "沈杰", "150****2736", ["停电跳闸"]),
    ("专业网格员", "冯敏", "137****2323", ["燃气泄漏"]),
]


@app.get("/bare/<string:code>")
def bare(code: str):
    return _answer(code)


if os.environ.get("BENCH_DATABASE_URL"):
    import sqlalchemy as sa

    _engine = sa.create_engine(
        os.environ["BENCH_DATABASE_URL"], **json.loads(os.environ.get("BENCH_ENGINE_OPTIONS") or "{}")
    )
    _read = sa.text("SELECT building_id FROM building_codes WHERE code = :code")

    _autocommit = _engine.dialect.name == "postgresql"  # as the scan reads (registry.py)

    @app.get("/bare-db/<string:code>")
    def bare_db(code: str):
        conn = _engine.connect()
        if _autocommit:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with conn:
            conn.execute(_read, {"code": code}).scalar()
        return _answer(code)


def _answer(code: str) -> dict:
    # Built per request, as the real view builds its answer; no I/O.
    return {
        "building": {"id": 8, "name": "8号楼", "address": "文化路294号8号楼",
                     "community": "幸福社区", "grid": "第1网格"},
        "units": ["1单元", "2单元", "3单元"],
        "contacts": [
            {"role": r, "name": n, "phone_masked": p, "categories": list(c)} for r, n, p, c in _CONTACTS
        ],
        "categories": [{"code": c, "name": n, "kind": k} for c, n, k in _CATEGORIES],
        "open_tickets": [
            {"id": "RSWLoFfTWo5BVnfrxUY3HQ", "number": "JY-20260924-00001", "category": "楼道照明",
             "summary": "楼道灯坏了，晚上很黑，老人上下楼不安全，请尽快修理",
             "status": "dispatched", "created_at": "2026-09-24T12:17:10.960107+08:00",
             "me_too_count": 2, "code": code},
        ],
    }
