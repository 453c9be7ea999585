"""Python-Markdown / MkDocs admonitions (`!!! tip "Title"` + an indented body).

CommonMark would read the indented body as a code block, so the block is rewritten
before parsing: the body is dedented and introduced by its label ("Tip:", "Warning:").
"""

from __future__ import annotations

import re

_ADMONITION = re.compile(
    r"^(?P<indent>\s*)(?:!!!|\?\?\?\+?)\s+(?P<kind>[\w-]+)(?:\s+\"(?P<title>[^\"]*)\")?\s*$"
)
_LABELS = {"warn": "Warning", "danger": "Warning", "keyboard_tip": "Tip", "info": "Note"}
_STRUCTURED = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|```|~~~|\||#)")
_OWN_LABEL = re.compile(r"^\s*\*\*[^*]+(?::\*\*|\*\*:)")


def _label(kind: str, title: str | None) -> str:
    if title:
        return title.strip()
    return _LABELS.get(kind.lower(), kind.replace("_", " ").replace("-", " ").capitalize())


def _indent_width(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rewrite_admonitions(text: str) -> str:
    lines = text.replace("\t", "    ").split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _ADMONITION.match(lines[index])
        if match is None:
            out.append(lines[index])
            index += 1
            continue
        indent = match.group("indent")
        body, index = _collect_body(lines, index + 1, len(indent))
        out.extend(_render(indent, _label(match.group("kind"), match.group("title")), body))
    return "\n".join(out)


def _collect_body(lines: list[str], start: int, outer: int) -> tuple[list[str], int]:
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent_width(lines[end]) > outer):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    body = lines[start:end]
    depth = min((_indent_width(line) for line in body if line.strip()), default=outer)
    return [line[depth:] if line.strip() else "" for line in body], end


def _render(indent: str, label: str, body: list[str]) -> list[str]:
    while body and not body[0].strip():
        body.pop(0)
    if not body:
        return []
    rendered = [indent + line if line else "" for line in body]
    if _OWN_LABEL.match(body[0]):
        return ["", *rendered, ""]
    if _STRUCTURED.match(body[0]):
        return ["", f"{indent}{label}:", "", *rendered, ""]
    rendered[0] = f"{indent}{label}: {body[0]}"
    return ["", *rendered, ""]
