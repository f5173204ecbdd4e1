"""Wrapping and shrinking Chinese text to fit a width, measured in STSong-Light."""

import re

from qr.cidfont import text_units

ELLIPSIS = "…"
# Latin words and numbers stay whole where they can; any other character may end a line.
_TOKENS = re.compile(r"[A-Za-z0-9@._%+\-*#/]+|\s+|.")
# Punctuation that must not begin a line: it stays with the character before it.
_NO_LINE_START = frozenset("，。、；：？！）》」』”’·…%,.;:?!)")
_SPACE_UNITS = text_units(" ")


def wrap_text(text: str, size: float, width: float) -> list[str]:
    """Break `text` into lines no wider than `width` at `size` points (greedy)."""
    limit = width / size
    if text_units(text) <= limit and "\n" not in text:
        stripped = text.strip()
        return [stripped] if stripped else []
    lines: list[str] = []
    line, used = "", 0.0
    for token in _TOKENS.findall(text):
        if token.isspace():
            if line:
                line, used = line + " ", used + _SPACE_UNITS
            continue
        units = text_units(token)
        if used + units <= limit:
            line, used = line + token, used + units
            continue
        if len(token) == 1 and token in _NO_LINE_START and len(line) > 1:
            # Carry the last character over so that the punctuation does not open a line.
            lines.append(line[:-1].rstrip())
            line = line[-1] + token
            used = text_units(line)
            continue
        if line.strip():
            lines.append(line.rstrip())
        line, used = "", 0.0
        if units <= limit:
            line, used = token, units
            continue
        for ch in token:
            ch_units = text_units(ch)
            if line and used + ch_units > limit:
                lines.append(line)
                line, used = "", 0.0
            line, used = line + ch, used + ch_units
    if line.strip():
        lines.append(line.rstrip())
    return lines


def truncate_text(text: str, size: float, width: float) -> str:
    """`text` cut to fit `width`, ending with an ellipsis when cut."""
    if text_units(text) * size <= width:
        return text
    return _cut_with_ellipsis(text, size, width)


def _cut_with_ellipsis(text: str, size: float, width: float) -> str:
    limit = width / size - text_units(ELLIPSIS)
    while text and text_units(text) > limit:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def fit_text(
    text: str, width: float, *, max_size: float, min_size: float, max_lines: int, step: float = 0.5
) -> tuple[float, list[str]]:
    """The largest size from max_size down to min_size at which `text` wraps into max_lines lines.

    Returns (size, lines). When even min_size needs more lines, the last allowed line is
    truncated with an ellipsis: the text never exceeds `width` nor `max_lines`.
    """
    size = max_size
    while True:
        lines = wrap_text(text, size, width)
        if len(lines) <= max_lines:
            return size, lines
        if size <= min_size:
            break
        size = max(min_size, size - step)
    kept = lines[: max_lines - 1]
    rest = "".join(lines[max_lines - 1 :])
    return size, kept + [_cut_with_ellipsis(rest, size, width)]
