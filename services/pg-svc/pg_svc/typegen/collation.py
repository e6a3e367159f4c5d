"""The order postgres-meta's generators sort names in: JavaScript's ``Intl.Collator("en")``,
ICU's root collation (the Unicode Collation Algorithm's, non-ignorable punctuation).

Strings compare by their base characters first (letters case-blind; punctuation, then digits,
then letters), then by accents, then by case (lower before upper). Printable ASCII follows ICU
exactly; other characters are approximated: a letter with accents sorts as its base letter (the
accents deciding only between otherwise equal strings), any other character after the letters,
by code point. Control characters are ignored, as ICU ignores them.
"""

from __future__ import annotations

import functools
import unicodedata

#: Printable ASCII in ICU's root order (each lower-case letter before its capital).
_ICU_ASCII_ORDER = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ"

_ASCII_WEIGHTS: dict[str, tuple[int, int]] = {}
for _rank, _char in enumerate(_ICU_ASCII_ORDER):
    if _char.isalpha():
        # One primary weight per letter; case is the third level.
        _ASCII_WEIGHTS[_char] = (_ICU_ASCII_ORDER.index(_char.lower()), 1 if _char.isupper() else 0)
    else:
        _ASCII_WEIGHTS[_char] = (_rank, 0)

_AFTER_ASCII = len(_ICU_ASCII_ORDER)

Key = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@functools.lru_cache(maxsize=65536)
def sort_key(text: str) -> Key:
    """A key that orders strings as ``Intl.Collator("en").compare`` does."""
    primary: list[int] = []
    secondary: list[int] = []
    tertiary: list[int] = []
    for char in unicodedata.normalize("NFD", text) if not text.isascii() else text:
        weights = _ASCII_WEIGHTS.get(char)
        if weights is not None:
            primary.append(weights[0])
            secondary.append(0)
            tertiary.append(weights[1])
        elif unicodedata.combining(char):
            if secondary:
                secondary[-1] = max(secondary[-1], 1 + ord(char))
        elif unicodedata.category(char) == "Cc":
            continue
        else:
            primary.append(_AFTER_ASCII + ord(char))
            secondary.append(0)
            tertiary.append(0)
    return tuple(primary), tuple(secondary), tuple(tertiary)
