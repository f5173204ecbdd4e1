"""flask demo setup: a ready-to-try database with one street of sample data."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select

from qr.urls import building_url
from webapp.cli.registry import echo_report
from webapp.demo import SAMPLE_XLSX
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people import passwords
from webapp.registry.codes import issue_missing_codes
from webapp.registry.importer import import_registry_file
from webapp.registry.models import Building, BuildingCode
from webapp.tickets.calendar import seed_from_package as seed_calendar

group = AppGroup("demo", help="演示数据")

# Reply templates staff pick when they resolve a ticket (None: every category).
DEMO_REPLIES = {
    "light": ["已更换楼道灯泡，照明恢复正常。", "已检修楼道照明线路，灯已能正常点亮。"],
    "fire_lane": ["已联系车主挪车，消防通道已畅通。", "已清理消防通道内堆放的杂物。"],
    "ebike_charging": ["已劝导住户将电动车移至集中充电点充电。", "已拆除私拉的充电线，并对住户进行了安全提醒。"],
    "garbage": ["已通知环卫清运，垃圾已清理完毕。"],
    "elevator": ["已通知维保单位维修，电梯已恢复运行。"],
    "water": ["已联系供水公司抢修，供水已恢复。"],
    "sanitation": ["已安排保洁人员清扫，环境已整治。"],
    "noise": ["已上门沟通，噪音问题已协调解决。"],
    "illegal_building": ["已现场核实并移交城管部门依法处理。"],
    "wish": ["感谢您的来信，社区已收到并安排专人跟进。", "您的心愿已转交相关工作人员，我们会尽快与您联系。"],
    None: ["已现场核实并处理完毕，感谢您的反映。", "经核实，问题已解决，欢迎继续监督。"],
}


def seed_reply_templates() -> int:
    """Add the demo's reply templates that are missing; returns how many were added."""
    from webapp.registry.models import Category
    from webapp.registry.replies import add_reply

    ids = dict(db.session.execute(select(Category.code, Category.id)).all())
    added = 0
    for code, texts in DEMO_REPLIES.items():
        if code is not None and code not in ids:
            continue
        for order, text in enumerate(texts):
            added += add_reply(text, category_id=ids.get(code), sort_order=order)
    return added


# The demo's sample tickets: (building index, category, description, what happens to it).
DEMO_TICKETS = (
    (0, "light", "3单元2楼楼道灯坏了一个星期，晚上上下楼很黑。", "new"),
    (1, "fire_lane", "小区北门消防通道被两辆私家车长期占用。", "accepted"),
    (2, "ebike_charging", "2单元楼道里有人私拉电线给电动车充电。", "resolved"),
    (3, "garbage", "8号楼旁垃圾桶满了两天没有清运，有异味。", "closed"),
    (6, "elevator", "电梯按键失灵，老人上下楼不方便。", "new"),
    (0, "wish", "希望小区里多放几张长椅，方便老人休息。", "wish"),
)


def seed_demo_tickets() -> int:
    """A few tickets in different states, filed and handled through the same functions as the
    API, so that the queue, a ticket's timeline and the figures show something at once. Only
    into a database without tickets; returns how many were filed."""
    import io

    from PIL import Image

    from webapp.people import auth
    from webapp.people.actors import load_actor
    from webapp.tickets import actions, photos, submission
    from webapp.tickets.models import Ticket
    from webapp.tickets.state_machine import ActionInput

    if db.session.scalar(select(Ticket.id).limit(1)) is not None:
        return 0
    codes = list(db.session.scalars(
        select(BuildingCode.code).join(Building, Building.id == BuildingCode.building_id)
        .where(BuildingCode.revoked_at.is_(None)).order_by(Building.code)
    ))
    _, _, resident = auth.login_dev("demo-resident")
    filed = 0
    for number, (building, category, text, fate) in enumerate(DEMO_TICKETS):
        kind = "wish" if fate == "wish" else "report"
        try:
            ticket = submission.submit_ticket(
                resident,
                submission.Submission(code=codes[building % len(codes)], kind=kind, category=category,
                                      description=text, anonymous=kind == "wish"),
                f"demo-ticket-{number}",
            ).ticket
        except DomainError:  # a category the sample no longer has: skip that ticket
            continue
        filed += 1
        if fate in ("new", "wish") or ticket.assignee_id is None:
            continue
        worker = load_actor(ticket.assignee_id)
        actions.act_on_ticket(worker, ticket.id, "accept", ActionInput())
        if fate == "accepted":
            continue
        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), (60, 140, 80)).save(buffer, "JPEG")
        buffer.seek(0)
        after = photos.store_upload(worker, buffer, "after.jpg")
        replies = DEMO_REPLIES.get(category) or DEMO_REPLIES[None]
        actions.act_on_ticket(worker, ticket.id, "resolve", ActionInput(note=replies[0], photo_ids=[after.id]))
        if fate == "closed":
            actions.give_feedback(resident, ticket.id, resolved=True, rating=5, comment="处理得很及时，谢谢！")
    return filed


@group.command("setup")
def setup() -> None:
    """Migrate the database, import the sample "one table", give every building a code, and
    give every staff account the demo password (DEMO_PASSWORD). Refused in production.

    Safe to run at every start: the import changes nothing when the sample is already in.
    """
    demo_password = current_app.config["DEMO_PASSWORD"]
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("演示数据和演示密码不能用于生产环境（APP_ENV=production）")
    if not demo_password:
        raise click.ClickException("未设置演示密码 DEMO_PASSWORD")
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    upgrade()
    report = import_registry_file(SAMPLE_XLSX)
    if not report.ok:
        db.session.rollback()
        echo_report(report)
        raise click.ClickException("示例数据有误，未导入")
    issued = issue_missing_codes()
    seed_calendar()  # the working-day calendar, from the chinesecalendar package
    seed_reply_templates()
    # Committed first: a submission reads the code's place on a connection of its own
    # (submission.submit_ticket), which sees committed rows only. A rerun adds what is missing.
    db.session.commit()
    tickets = seed_demo_tickets()
    try:
        passwords.set_demo_password(demo_password)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(f"DEMO_PASSWORD：{error.message}") from None
    db.session.commit()
    click.echo(f"已导入示例数据 {SAMPLE_XLSX.name}：")
    echo_report(report)
    click.echo(f"新签发二维码 {issued} 个")
    if tickets:
        click.echo(f"新建示例工单 {tickets} 个（居民账号 openid：demo-resident）")

    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    first = db.session.execute(
        select(Building.name, BuildingCode.code)
        .join(BuildingCode, BuildingCode.building_id == Building.id)
        .where(BuildingCode.revoked_at.is_(None))
        .order_by(Building.code)
        .limit(1)
    ).first()
    click.echo(f"首页：{base}/    网格工作台：{base}/console/")
    click.echo("网格工作台用户名为人员编码，如 P001（管理员）、P011（网格员）")
    click.echo(f"演示密码：{demo_password}")
    if first is not None:
        click.echo(f"第一栋楼（{first.name}）的手机页面：{building_url(base, first.code)}")
    if current_app.config.get("DEV_LOGIN"):
        click.echo(
            "开发登录：工作人员的 openid 为 demo-<人员编码>，如 demo-P001（管理员）、"
            f"demo-P011（网格员）；账号列表：{base}/api/v1/dev/accounts"
        )

