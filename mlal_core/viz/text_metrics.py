"""Rendered width of text in the theme font, measured from the font's advance widths.

The theme font is Arial / Helvetica / Liberation Sans; the three are metric-compatible (same advance
width for every character), so one table serves them all. :data:`HELVETICA_WIDTHS` and
:data:`HELVETICA_BOLD_WIDTHS` are the advance widths of Adobe's standard Helvetica and Helvetica-Bold
AFM files (in 1/1000 em) for the printable ASCII characters U+0020 to U+007E, by Unicode character
(so ``'`` is *quotesingle*, 191, and ``^`` *asciicircum*, 469, as a browser draws them; both were
checked against Chromium's ``measureText`` with Liberation Sans). Other characters: an accented Latin
letter is as wide as its base letter, a few common symbols have their own width, East-Asian wide
characters are 1 em, and anything else counts :data:`DEFAULT_WIDTH` (the width of a digit).

Plotly text markup is understood: ``<br>`` starts a new line (the width is that of the widest line),
``<b>`` switches to the bold table, other tags (``<i>``, ``<sup>``, ``<span ...>``) are dropped and
HTML entities (``&amp;``) decoded.
"""

from __future__ import annotations

import html
import re
import unicodedata

from mlal_core.errors import ConfigError

__all__ = [
    "BBOX_HEIGHT_EM",
    "DEFAULT_WIDTH",
    "HELVETICA_BOLD_WIDTHS",
    "HELVETICA_WIDTHS",
    "LINE_SPACING",
    "char_width",
    "plain_lines",
    "text_width",
    "truncate_to_width",
    "wrap_text",
]

_ASCII = "".join(chr(c) for c in range(32, 127))
#: Helvetica advance widths (1/1000 em) of the characters U+0020..U+007E, in order.
HELVETICA_WIDTHS: dict[str, int] = dict(zip(_ASCII, (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,  # space .. /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556,  # 0 .. 9
    278, 278, 584, 584, 584, 556, 1015,  # : ; < = > ? @
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,  # A .. M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611,  # N .. Z
    278, 278, 278, 469, 556, 333,  # [ \ ] ^ _ `
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833,  # a .. m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500,  # n .. z
    334, 260, 334, 584,  # { | } ~
), strict=True))
#: Helvetica-Bold advance widths (1/1000 em) of the characters U+0020..U+007E, in order.
HELVETICA_BOLD_WIDTHS: dict[str, int] = dict(zip(_ASCII, (
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556,
    333, 333, 584, 584, 584, 611, 975,
    722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611,
    333, 278, 333, 584, 556, 333,
    556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889,
    611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500,
    389, 280, 389, 584,
), strict=True))
# common non-ASCII characters of the workbench's texts (regular and bold widths agree for these)
_SYMBOLS: dict[str, int] = {
    "\u00b1": 549, "\u00d7": 584, "\u2013": 556, "\u2014": 1000, "\u2026": 1000, "\u2018": 222, "\u2019": 222,
    "\u201c": 333, "\u201d": 333, "\u2264": 549, "\u2265": 549, "\u2212": 584, "\u00b7": 278, "\u221e": 713,
    "\u2191": 500, "\u2193": 500, "\u2192": 1000, "\u00b0": 400, "\u00a0": 278, "\u03b1": 578, "\u03c4": 432,
}
#: width (1/1000 em) of a character with no entry: that of a digit.
DEFAULT_WIDTH = 556
#: distance between the baselines of two lines of plotly text, in em (plotly's LINE_SPACING).
LINE_SPACING = 1.3
#: height of a line's box (ascent + descent of Liberation Sans / Arial), in em.
BBOX_HEIGHT_EM = 1.15

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<(/?)([a-zA-Z]+)[^>]*>")


def char_width(ch: str, bold: bool = False) -> int:
    """Advance width of one character in 1/1000 em.

    Parameters
    ----------
    ch : str
        One character.
    bold : bool, default False
        Use the bold widths.

    Returns
    -------
    int
        The width (see the module docstring for characters outside printable ASCII).
    """
    table = HELVETICA_BOLD_WIDTHS if bold else HELVETICA_WIDTHS
    if ch in table:
        return table[ch]
    if ch in _SYMBOLS:
        return _SYMBOLS[ch]
    if unicodedata.combining(ch):
        return 0
    base = unicodedata.normalize("NFD", ch)[0]
    if base in table:
        return table[base]
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1000
    return DEFAULT_WIDTH


def _segments(line: str) -> list[tuple[str, bool]]:
    """``(text, bold)`` runs of one line of markup, tags removed and entities decoded."""
    out, bold, pos = [], False, 0
    for m in _TAG.finditer(line):
        if m.start() > pos:
            out.append((html.unescape(line[pos:m.start()]), bold))
        if m.group(2).lower() == "b":
            bold = not m.group(1)
        pos = m.end()
    if pos < len(line):
        out.append((html.unescape(line[pos:]), bold))
    return out


def plain_lines(text: str) -> list[str]:
    """The lines of a piece of plotly markup as plain text (``<br>`` splits, tags dropped).

    Parameters
    ----------
    text : str
        The text (converted with ``str``).

    Returns
    -------
    list of str
        One string per line.
    """
    return ["".join(s for s, _ in _segments(line)) for line in _BR.split(str(text))]


def text_width(text: str, font_size: float, *, bold: bool = False) -> float:
    """Rendered width in px of ``text`` at ``font_size`` px in the theme font (its widest line).

    Parameters
    ----------
    text : str
        The text; plotly markup (``<br>``, ``<b>``, entities) is understood.
    font_size : float
        Font size in px.
    bold : bool, default False
        The whole text is bold (``<b>`` switches single runs to bold).

    Returns
    -------
    float
        Width in px; 0 for an empty text.

    Raises
    ------
    ConfigError
        If ``font_size`` is not positive.
    """
    if not font_size or font_size <= 0:
        raise ConfigError(f"font_size must be positive; got {font_size!r}.")
    widest = 0
    for line in _BR.split(str(text)):
        units = sum(char_width(ch, bold or b) for seg, b in _segments(line) for ch in seg)
        widest = max(widest, units)
    return widest * float(font_size) / 1000.0


def truncate_to_width(text: str, max_width: float, font_size: float, *, bold: bool = False) -> str:
    """``text`` cut, with an ellipsis, to at most ``max_width`` px (unchanged when it fits).

    Parameters
    ----------
    text : str
        Plain text (one line).
    max_width : float
        Width available in px.
    font_size : float
        Font size in px.
    bold : bool, default False
        Bold text.

    Returns
    -------
    str
        ``text`` or its longest prefix (trailing spaces dropped) followed by "\u2026" that fits; at
        least one character and the ellipsis.
    """
    text = str(text)
    if text_width(text, font_size, bold=bold) <= max_width:
        return text
    budget = max_width - text_width("\u2026", font_size, bold=bold)
    used, cut = 0.0, 0
    for i, ch in enumerate(text):
        used += char_width(ch, bold) * float(font_size) / 1000.0
        if used > budget:
            break
        cut = i + 1
    return text[:max(cut, 1)].rstrip() + "\u2026"


def wrap_text(text: str, max_width: float, font_size: float, *, bold: bool = False) -> list[str]:
    """Greedy word wrap of ``text`` into lines of at most ``max_width`` px.

    Words are split at spaces (and kept whole: a word wider than ``max_width`` gets a line of its
    own, cut with an ellipsis). Existing ``<br>`` breaks are kept.

    Parameters
    ----------
    text : str
        The text (plain, or with ``<br>``).
    max_width : float
        Width available per line in px.
    font_size : float
        Font size in px.
    bold : bool, default False
        Bold text.

    Returns
    -------
    list of str
        The lines (at least one).
    """
    lines: list[str] = []
    for para in _BR.split(str(text)):
        current = ""
        for word in para.split():
            trial = f"{current} {word}" if current else word
            if not current or text_width(trial, font_size, bold=bold) <= max_width:
                current = trial
            else:
                lines.append(current)
                current = word
            if text_width(current, font_size, bold=bold) > max_width and " " not in current:
                current = truncate_to_width(current, max_width, font_size, bold=bold)
        lines.append(current)
    return lines
