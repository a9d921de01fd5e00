"""CSV cells that a spreadsheet must show, never run: a cell starting with = + - @ (or a tab
or CR, which some spreadsheets skip) is a formula there (CSV injection)."""

from __future__ import annotations

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def spreadsheet_safe(text: str) -> str:
    """The cell to write: a leading quote makes a spreadsheet show the text as text. Text that
    already starts with a quote gets one too, so `from_spreadsheet_safe` restores it exactly."""
    return _QUOTE + text if text[:1] in (*_FORMULA_STARTS, _QUOTE) else text


def from_spreadsheet_safe(text: str) -> str:
    """The text a `spreadsheet_safe` cell was made from."""
    if text[:1] == _QUOTE and text[1:2] in (*_FORMULA_STARTS, _QUOTE) and text[1:2]:
        return text[1:]
    return text
