"""Small facts about people that several doors need."""
from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """Show a phone number the way a public sign may: 138****5678."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return digits[:1] + "*" * (len(digits) - 1)
