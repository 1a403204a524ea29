"""What a spreadsheet cell may hold, for every CSV and XLSX file ``incident`` writes.

Citizens write the comments and choose their names, so two things are made safe here:

* **Unwritable characters.** XML 1.0, and so XLSX, cannot hold C0 control characters other
  than tab, line feed and carriage return, lone surrogates, U+FFFE or U+FFFF (openpyxl
  refuses them and the whole file fails). Each becomes U+FFFD, a visible mark, in CSV too:
  the rest of the text stays readable.
* **Formulas.** A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
  formula, also after leading blanks or invisible characters, and also when the sign is a
  full-width or small form (``＝``, ``﹢``: the same sign under NFKC). A tab, carriage return or
  line feed first acts as a separator when the cell is pasted. Such a cell is prefixed with an
  apostrophe in CSV (OWASP's advice for CSV injection) and is stored as text with Excel's
  *quote prefix* in XLSX, which keeps it text even when someone edits it; the text itself is
  unchanged.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["REPLACEMENT", "csv_text", "readable", "runs_as_formula"]

REPLACEMENT = "\ufffd"
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORMULA_SIGNS = frozenset("=+-@")
_SEPARATORS = frozenset("\t\r\n")
_INVISIBLE = frozenset(("Cc", "Cf", "Zs", "Zl", "Zp"))  # controls, format characters, blanks


def readable(text: str) -> str:
    """``text`` with every character a spreadsheet file cannot hold replaced by U+FFFD."""
    return _UNWRITABLE.sub(REPLACEMENT, text)


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet could run ``text`` as a formula (or split it when pasted)."""
    if text[:1] in _SEPARATORS:
        return True
    for char in text:
        if char.isspace() or unicodedata.category(char) in _INVISIBLE:
            continue
        return unicodedata.normalize("NFKC", char)[:1] in _FORMULA_SIGNS
    return False


def csv_text(text: str) -> str:
    """A CSV cell's text: readable, with an apostrophe first when it could run as a formula."""
    text = readable(text)
    return "'" + text if runs_as_formula(text) else text
