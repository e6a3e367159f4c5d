"""A document printer in the manner of Wadler's "prettier printer", as Prettier (and oxfmt, the
formatter postgres-meta runs on its TypeScript) lays code out: a document says where a line may
break; a group is printed on one line when it fits in the width, else its lines break.

Only what the TypeScript generator needs: text, concatenation, groups (that may be forced to
break), indentation and alignment, soft/normal/hard lines, and text that depends on whether a
group broke.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

Doc = Union[str, "Concat", "Group", "Indent", "Align", "Line", "IfBreak"]


@dataclass
class Concat:
    parts: Sequence[Doc]


@dataclass
class Group:
    contents: Doc
    #: Break whatever the width (set too when a hard line is inside).
    breaks: bool = False
    id: int | None = None


@dataclass
class Indent:
    contents: Doc


@dataclass
class Align:
    """Indentation by ``width`` more spaces."""

    width: int
    contents: Doc


@dataclass(frozen=True)
class Line:
    #: A soft line is nothing when flat; a normal one a space; a hard one always breaks.
    soft: bool = False
    hard: bool = False


@dataclass
class IfBreak:
    broken: Doc
    flat: Doc = ""
    #: Whose break decides: that group's, else the enclosing one's.
    group_id: int | None = None


LINE = Line()
SOFTLINE = Line(soft=True)
HARDLINE = Line(hard=True)

_FLAT, _BREAK = 0, 1


def concat(*parts: Doc) -> Concat:
    return Concat(parts)


def join(separator: Doc, docs: Sequence[Doc]) -> Concat:
    parts: list[Doc] = []
    for index, doc in enumerate(docs):
        if index:
            parts.append(separator)
        parts.append(doc)
    return Concat(parts)


def text_width(text: str) -> int:
    """Columns a string takes: wide East Asian characters two, combining marks none."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _propagate_breaks(doc: Doc) -> bool:
    """Marks every group that holds a hard line as broken; answers whether ``doc`` holds one."""
    if isinstance(doc, str):
        return False
    if isinstance(doc, Line):
        return doc.hard
    if isinstance(doc, Concat):
        found = False
        for part in doc.parts:
            found = _propagate_breaks(part) or found
        return found
    if isinstance(doc, Group):
        if _propagate_breaks(doc.contents):
            doc.breaks = True
        return doc.breaks
    if isinstance(doc, Indent | Align):
        return _propagate_breaks(doc.contents)
    return _propagate_breaks(doc.broken) or _propagate_breaks(doc.flat)


@dataclass
class _Frame:
    indent: str
    mode: int
    doc: Doc


@dataclass
class _Printer:
    width: int
    out: list[str] = field(default_factory=list)
    position: int = 0
    group_modes: dict[int, int] = field(default_factory=dict)

    def fits(self, next_frame: _Frame, rest: list[_Frame], room: int) -> bool:
        """Whether ``next_frame`` printed flat, and what follows it up to the next line
        break, takes at most ``room`` columns."""
        rest_index = len(rest)
        frames = [next_frame]
        while room >= 0:
            if not frames:
                if rest_index == 0:
                    return True
                rest_index -= 1
                frames.append(rest[rest_index])
                continue
            frame = frames.pop()
            doc, mode = frame.doc, frame.mode
            if isinstance(doc, str):
                room -= text_width(doc)
            elif isinstance(doc, Concat):
                frames.extend(_Frame(frame.indent, mode, part) for part in reversed(doc.parts))
            elif isinstance(doc, Indent | Align):
                frames.append(_Frame(frame.indent, mode, doc.contents))
            elif isinstance(doc, Group):
                frames.append(_Frame(frame.indent, _BREAK if doc.breaks else mode, doc.contents))
            elif isinstance(doc, IfBreak):
                group_mode = self.group_modes.get(doc.group_id, _FLAT) if doc.group_id is not None else mode
                frames.append(_Frame(frame.indent, mode, doc.broken if group_mode == _BREAK else doc.flat))
            elif isinstance(doc, Line):
                if mode == _BREAK or doc.hard:
                    return True
                if not doc.soft:
                    room -= 1
        return False

    def print(self, doc: Doc) -> str:
        frames = [_Frame("", _BREAK, doc)]
        while frames:
            frame = frames.pop()
            doc, mode = frame.doc, frame.mode
            if isinstance(doc, str):
                self.out.append(doc)
                self.position += text_width(doc)
            elif isinstance(doc, Concat):
                frames.extend(_Frame(frame.indent, mode, part) for part in reversed(doc.parts))
            elif isinstance(doc, Indent):
                frames.append(_Frame(frame.indent + "  ", mode, doc.contents))
            elif isinstance(doc, Align):
                frames.append(_Frame(frame.indent + " " * doc.width, mode, doc.contents))
            elif isinstance(doc, Group):
                if mode == _FLAT:
                    chosen = _Frame(frame.indent, _BREAK if doc.breaks else _FLAT, doc.contents)
                else:
                    flat = _Frame(frame.indent, _FLAT, doc.contents)
                    fits = not doc.breaks and self.fits(flat, frames, self.width - self.position)
                    chosen = flat if fits else _Frame(frame.indent, _BREAK, doc.contents)
                if doc.id is not None:
                    self.group_modes[doc.id] = chosen.mode
                frames.append(chosen)
            elif isinstance(doc, IfBreak):
                group_mode = self.group_modes.get(doc.group_id, _FLAT) if doc.group_id is not None else mode
                frames.append(_Frame(frame.indent, mode, doc.broken if group_mode == _BREAK else doc.flat))
            elif isinstance(doc, Line):
                if mode == _FLAT and not doc.hard:
                    if not doc.soft:
                        self.out.append(" ")
                        self.position += 1
                    continue
                self._trim()
                self.out.append("\n" + frame.indent)
                self.position = len(frame.indent)
        return "".join(self.out)

    def _trim(self) -> None:
        """Drops the spaces at the end of the line being finished."""
        while self.out:
            stripped = self.out[-1].rstrip(" \t")
            if stripped:
                self.out[-1] = stripped
                return
            self.out.pop()


def render(doc: Doc, width: int = 80) -> str:
    """``doc`` laid out in ``width`` columns."""
    _propagate_breaks(doc)
    return _Printer(width).print(doc)
