"""Writing to the audit trail, and reading it back.

The trail is append-only: this module adds rows and reads them; it has no function that
changes or deletes one, and the model refuses an update or a delete through the ORM
(webapp/audit/models.py). Rows are written in the caller's transaction, so an action and its
entry commit (or roll back) together; a refused action whose refusal must be remembered (a
wrong password) is committed by its door before it answers.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from webapp.audit.models import AuditEntry
from webapp.columns import utcnow
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.people.models import Person
from webapp.registry.models import Building
from webapp.tickets.models import Ticket


class Action(str, enum.Enum):
    SIGN_IN = "sign_in"  # a console sign-in (detail.method: password or demo)
    SIGN_IN_FAILED = "sign_in_failed"  # wrong username or password, or not staff
    ACCOUNT_LOCKED = "account_locked"  # the failure that locked the account
    SIGN_IN_LOCKED = "sign_in_locked"  # an attempt refused because the account is locked
    SIGN_IN_THROTTLED = "sign_in_throttled"  # refused: too many failures from the address
    SIGN_OUT = "sign_out"
    PASSWORD_SET = "password_set"  # detail.by: cli, demo, console (a reset shown once)  # nosec B105  # an event name
    # Staff accounts (webapp.people.accounts) and riders (webapp.people.riders), by the console.
    STAFF_CREATED = "staff_created"
    STAFF_ROLES_SET = "staff_roles_set"
    STAFF_DEACTIVATED = "staff_deactivated"
    STAFF_AWAY = "staff_away"
    STAFF_BACK = "staff_back"
    STAFF_PHONE_SET = "staff_phone_set"
    RIDER_APPROVED = "rider_approved"
    RIDER_REFUSED = "rider_refused"
    RIDER_SUSPENDED = "rider_suspended"
    INVITE_CREATED = "invite_created"
    INVITE_REVOKED = "invite_revoked"
    # Tickets, by the console (webapp.console.work): an action taken, a phone number shown.
    TICKET_ACTION = "ticket_action"  # detail: action, reason, target
    PHONE_SHOWN = "phone_shown"  # detail: reason, note
    # The registry, signs and the calendar, by the console or the command line.
    IMPORT_PREVIEWED = "import_previewed"  # detail: file, sha256, counts, errors
    IMPORT_APPLIED = "import_applied"  # detail: file, sha256, counts
    CODE_REVOKED = "code_revoked"  # target: the building; detail: code
    CODE_REISSUED = "code_reissued"  # target: the building; detail: old, new
    SIGNS_PRINTED = "signs_printed"  # detail: scope, code, pages (a street: the job)
    CALENDAR_DAY_SAVED = "calendar_day_saved"  # target: the day; detail: type, name, before
    CALENDAR_DAY_DELETED = "calendar_day_deleted"
    CALENDAR_IMPORTED = "calendar_imported"  # detail: added, changed, unchanged, years
    CALENDAR_SEEDED = "calendar_seeded"  # detail: years → days added
    DATA_EXPORTED = "data_exported"  # an export of figures or tickets (detail: what)
    # Personal data (webapp.privacy): a staff member's view of it (detail: shown, tickets,
    # door), a resident's deletion (detail: by, tickets), a retention purge (detail: counts).
    PERSONAL_DATA_VIEWED = "personal_data_viewed"
    PERSON_DELETED = "person_deleted"
    PERSONAL_DATA_PURGED = "personal_data_purged"


ACTION_LABELS = {
    Action.SIGN_IN: "登录",
    Action.SIGN_IN_FAILED: "登录失败",
    Action.ACCOUNT_LOCKED: "账号锁定",
    Action.SIGN_IN_LOCKED: "账号锁定期间尝试登录",
    Action.SIGN_IN_THROTTLED: "地址登录失败过多被拒绝",
    Action.SIGN_OUT: "退出登录",
    Action.PASSWORD_SET: "设置密码",
    Action.STAFF_CREATED: "新建人员账号",
    Action.STAFF_ROLES_SET: "修改人员角色和范围",
    Action.STAFF_DEACTIVATED: "人员离岗停用",
    Action.STAFF_AWAY: "人员请假（设代班人）",
    Action.STAFF_BACK: "人员销假回岗",
    Action.STAFF_PHONE_SET: "修改工作电话",
    Action.RIDER_APPROVED: "骑手审核通过",
    Action.RIDER_REFUSED: "骑手审核未通过",
    Action.RIDER_SUSPENDED: "骑手停用",
    Action.INVITE_CREATED: "发放骑手邀请码",
    Action.INVITE_REVOKED: "作废骑手邀请码",
    Action.TICKET_ACTION: "处理工单",
    Action.PHONE_SHOWN: "查看完整电话号码",
    Action.IMPORT_PREVIEWED: "预览数据导入",
    Action.IMPORT_APPLIED: "执行数据导入",
    Action.CODE_REVOKED: "停用楼栋二维码",
    Action.CODE_REISSUED: "重新签发楼栋二维码",
    Action.SIGNS_PRINTED: "打印公示牌",
    Action.CALENDAR_DAY_SAVED: "修改工作日历",
    Action.CALENDAR_DAY_DELETED: "删除工作日历日期",
    Action.CALENDAR_IMPORTED: "导入工作日历",
    Action.CALENDAR_SEEDED: "初始化工作日历",
    Action.DATA_EXPORTED: "导出数据",
    Action.PERSONAL_DATA_VIEWED: "查看个人信息",
    Action.PERSON_DELETED: "删除个人信息（注销）",
    Action.PERSONAL_DATA_PURGED: "按保存期限清除个人信息",
}


def record(
    action: Action | str,
    *,
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    address: str | None = None,
    detail: dict | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry (flushed, not committed) and return it."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor_id=actor_id,
        action=Action(action).value,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        address=(address or None) and address[:45],
        detail=dict(detail or {}),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def times_since(actions: set[Action], *, address: str, since: datetime, limit: int) -> list[datetime]:
    """The times of the newest `limit` entries of these actions from one address, newest first."""
    return list(
        db.session.scalars(
            select(AuditEntry.at)
            .where(
                AuditEntry.address == address,
                AuditEntry.action.in_([a.value for a in actions]),
                AuditEntry.at > since,
            )
            .order_by(AuditEntry.at.desc())
            .limit(limit)
        )
    )


def entries(*, actor_id: str | None = None, action: Action | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest entries, optionally of one actor or one action."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditEntry.action == Action(action).value)
    return list(db.session.scalars(query))


# ---------------------------------------------------------------- searching (the console's page)

SEARCH_PAGE = 50
_SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class AuditQuery:
    """What an admin searches the trail by; every part optional. Dates are Beijing days."""

    person: str = ""  # a person's code (P011), exact, or part of a name
    ticket: str = ""  # a ticket's number (JY-20261122-0042) or id
    action: str = ""  # an Action value
    date_from: date | None = None
    date_to: date | None = None
    before_id: int | None = None  # the page after this entry (newest first)


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    actor_name: str
    action_label: str
    target_label: str
    target_ticket_id: str | None

    @property
    def detail_lines(self) -> list[str]:
        return describe_detail(self.entry.detail)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_before_id: int | None
    matched_people: int | None  # how many people the person filter matched (None: no filter)


def _person_ids(text: str) -> list[str]:
    text = text.strip()
    query = select(Person.id).where(
        or_(Person.code == text.upper(), Person.code == text, Person.name.contains(text, autoescape=True))
    ).limit(200)
    return list(db.session.scalars(query))


def _ticket_ids(text: str) -> list[str]:
    text = text.strip()
    return list(
        db.session.scalars(select(Ticket.id).where(or_(Ticket.number == text.upper(), Ticket.id == text)).limit(10))
    )


def beijing_day_bounds(day_from: date | None, day_to: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC instants of the start of day_from and the end of day_to (Beijing days, inclusive)."""
    start = datetime.combine(day_from, time(), _SHANGHAI).astimezone(timezone.utc) if day_from else None
    end = (
        datetime.combine(day_to + timedelta(days=1), time(), _SHANGHAI).astimezone(timezone.utc) if day_to else None
    )
    return start, end


def search(query: AuditQuery, *, limit: int = SEARCH_PAGE) -> AuditPage:
    """Entries matching every given part, newest first, `limit` per page.

    A person matches entries they did and entries about them; a ticket, entries about it.
    Raises Invalid for an unknown action.
    """
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    matched_people = None
    if query.person.strip():
        ids = _person_ids(query.person)
        matched_people = len(ids)
        statement = statement.where(
            or_(
                AuditEntry.actor_id.in_(ids),
                (AuditEntry.target_type == "person") & AuditEntry.target_id.in_(ids),
            )
        )
    if query.ticket.strip():
        ids = _ticket_ids(query.ticket)
        statement = statement.where(AuditEntry.target_type == "ticket", AuditEntry.target_id.in_(ids))
    if query.action:
        try:
            statement = statement.where(AuditEntry.action == Action(query.action).value)
        except ValueError:
            raise Invalid("未知的操作类型", code="audit_action") from None
    start, end = beijing_day_bounds(query.date_from, query.date_to)
    if start is not None:
        statement = statement.where(AuditEntry.at >= start)
    if end is not None:
        statement = statement.where(AuditEntry.at < end)
    if query.before_id is not None:
        statement = statement.where(AuditEntry.id < query.before_id)
    found = list(db.session.scalars(statement))
    more = len(found) > limit
    found = found[:limit]
    return AuditPage(_shown(found), found[-1].id if more and found else None, matched_people)


def _shown(found: list[AuditEntry]) -> list[AuditRow]:
    """Each entry with the names of who acted and what it was about."""
    person_ids = {e.actor_id for e in found if e.actor_id} | {
        e.target_id for e in found if e.target_type == "person" and e.target_id
    }
    people = {
        row.id: f"{row.name}（{row.code}）" if row.code else (row.name or "居民")
        for row in db.session.execute(select(Person.id, Person.name, Person.code).where(Person.id.in_(person_ids)))
    }
    ticket_ids = {e.target_id for e in found if e.target_type == "ticket" and e.target_id}
    numbers = dict(db.session.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(ticket_ids))).all())
    building_ids = {int(e.target_id) for e in found if e.target_type == "building" and (e.target_id or "").isdigit()}
    buildings = dict(
        db.session.execute(select(Building.id, Building.name).where(Building.id.in_(building_ids))).all()
    )
    rows = []
    for entry in found:
        target, ticket_id = "", None
        if entry.target_type == "person":
            target = people.get(entry.target_id, "人员")
        elif entry.target_type == "ticket":
            target, ticket_id = f"工单 {numbers.get(entry.target_id, entry.target_id)}", entry.target_id
        elif entry.target_type == "building":
            target = f"楼栋 {buildings.get(int(entry.target_id), entry.target_id)}"
        elif entry.target_type == "calendar_day":
            target = f"日期 {entry.target_id}"
        elif entry.target_type:
            target = f"{entry.target_type} {entry.target_id or ''}".strip()
        if entry.actor_id:
            actor = people.get(entry.actor_id, "（已删除的人员）")
        else:  # a refused sign-in names nobody; the command line and the demo act as the system
            actor = "（未识别的用户）" if entry.action.startswith("sign_in") else "（系统）"
        rows.append(
            AuditRow(
                entry,
                actor,
                action_label(entry.action),
                target,
                ticket_id,
            )
        )
    return rows


def action_label(action: str) -> str:
    try:
        return ACTION_LABELS.get(Action(action), action)
    except ValueError:
        return action


# What an entry's detail says, in the words staff read (keys and the usual values).
DETAIL_LABELS = {
    "method": "方式", "by": "来源", "username": "用户名", "reason": "原因", "note": "备注", "action": "操作",
    "target": "对象", "file": "文件", "sha256": "校验码", "counts": "数量", "errors": "错误数", "code": "编码",
    "pages": "页数", "scope": "范围", "old": "旧码", "new": "新码", "building": "楼栋", "type": "类型",
    "name": "名称", "before": "修改前", "added": "新增", "changed": "修改", "unchanged": "未变", "years": "年份",
    "roles": "角色", "phone": "电话", "standin": "代班人", "what": "内容",
    # Exports (webapp.console.exports): the format, the rows, the queue's and dashboard's filters.
    "format": "格式", "filters": "筛选条件", "rows": "行数", "sheets": "工作表数", "status": "状态",
    "category": "类别", "grid": "网格", "overdue": "超期", "kind": "类型", "reporter": "反映人",
    "q": "搜索", "tab": "范围", "from": "开始日期", "to": "结束日期", "street": "街道", "month": "月份",
    "street_id": "街道", "community_id": "社区", "grid_id": "网格",
    # Personal data (webapp.privacy): what was shown, of which tickets, through which door.
    "shown": "查看内容", "tickets": "工单", "door": "入口", "photos": "照片", "sessions": "登录会话",
    "cutoff": "截止时间", "days": "保存天数",
}
DETAIL_VALUES = {
    "password": "密码", "demo": "演示", "cli": "命令行", "console": "工作台", "street": "街道",  # nosec B105  # the Chinese labels of detail keys
    "community": "社区", "holiday": "节假日", "workday": "调休上班", "created": "新增", "updated": "更新",
    "open": "在办", "mine": "我的", "report": "随手拍", "wish": "心语心愿", "resident": "居民", "rider": "骑手",
    "wish_text": "心愿内容", "contact_phone": "联系电话", "reporter_name": "反映人姓名",
    "rating_comment": "评价内容", "mobile_phone": "手机号码", "api": "小程序", "self": "本人申请",
}


def _detail_value(value) -> str:
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()):  # an import's counts per sheet
            return "；".join(
                f"{sheet} 新增{c.get('created', 0)} 更新{c.get('updated', 0)} 不变{c.get('unchanged', 0)}"
                for sheet, c in value.items()
            )
        return "，".join(f"{DETAIL_LABELS.get(k, k)} {_detail_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "、".join(_detail_value(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:16] + "…"
    return DETAIL_VALUES.get(text, text)


def describe_detail(detail: dict | None) -> list[str]:
    """An entry's detail as "标签：值" lines (empty values left out)."""
    return [
        f"{DETAIL_LABELS.get(key, key)}：{_detail_value(value)}"
        for key, value in (detail or {}).items()
        if value not in (None, "", [], {})
    ]
