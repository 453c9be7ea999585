"""markdown-it syntax tree → plain text blocks that keep Markdown's line structure.

Lists keep their markers and nesting, tables become `| a | b |` rows, code stays
fenced; inline markup (emphasis, links, HTML such as `<kbd>` or icon `<i>` tags) is
reduced to the words a reader sees, so nothing but text is indexed.
"""

from __future__ import annotations

import re
from html import unescape

from bs4 import BeautifulSoup
from markdown_it.tree import SyntaxTreeNode

from ingestion.sections import clean_inline

_ICON = "\x00"
"""Stands in for a dropped icon tag so `(<i class="fa fa-cog"></i>)` leaves no `()` behind."""

_EMPTY_PARENS = re.compile(r"[ \t]*\(\s*(?:\x00\s*)+\)")
_REFERENCE_LINK = re.compile(r"\[([^\[\]]+)\] ?\[[^\[\]]*\]")
_TAG = re.compile(r"^</?([A-Za-z][A-Za-z0-9]*)\b[^>]*?/?>$", re.DOTALL)
_ATTR_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""")

HTML_TAGS_WORDS = (
    "a abbr b bdi bdo big blockquote br caption center cite code col colgroup dd del "
    "details dfn div dl dt em figcaption figure font hr i img input ins kbd label li mark "
    "ol p picture pre q s samp small source span strike strong sub summary sup svg table "
    "tbody td tfoot th thead time tr tt u ul var video wbr"
)
HTML_TAGS = frozenset(HTML_TAGS_WORDS.split())


def inline_text(node: SyntaxTreeNode) -> str:
    """Text of an `inline` node; hard breaks become newlines, soft breaks spaces."""
    parts: list[str] = []
    _walk_inline(node, parts)
    text = _EMPTY_PARENS.sub("", "".join(parts)).replace(_ICON, "")
    text = _REFERENCE_LINK.sub(r"\1", text)
    return clean_inline(text)


def _walk_inline(node: SyntaxTreeNode, parts: list[str]) -> None:
    for child in node.children:
        kind = child.type
        if kind == "text":
            parts.append(child.content.replace(_ICON, ""))
        elif kind == "code_inline":
            parts.append(code_span(child.content))
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "image":
            parts.append(child.content or "")
        elif kind == "html_inline":
            parts.append(_inline_html(child.content))
        else:
            _walk_inline(child, parts)


def _inline_html(tag: str) -> str:
    match = _TAG.match(tag.strip())
    if match is None:
        return "" if tag.startswith("<!--") else tag
    name = match.group(1).lower()
    if name not in HTML_TAGS:
        return tag  # a placeholder such as <team-name>, meant as text
    if name == "img":
        alt = _ATTR_ALT.search(tag)
        return (alt.group(1) or alt.group(2) or _ICON) if alt else _ICON
    if name == "br":
        return "\n"
    return _ICON if name in ("i", "svg", "span") else ""


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def code_span(content: str) -> str:
    """Inline code with a fence longer than any backtick run inside it (CommonMark rule)."""
    fence = "`" * (_longest_backtick_run(content) + 1)
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def html_fragment_text(fragment: str) -> str:
    """Visible text of a raw HTML block inside Markdown."""
    fragment = _COMMENT.sub("", fragment)
    if "<" not in fragment:  # only comments (such as rendered tab boundaries) or plain text
        lines = (clean_inline(line) for line in unescape(fragment).split("\n"))
        return "\n".join(line for line in lines if line)
    soup = BeautifulSoup(fragment, "lxml")
    for hidden in soup(["script", "style", "template"]):
        hidden.decompose()
    lines = (clean_inline(line) for line in soup.get_text("\n").split("\n"))
    return "\n".join(line for line in lines if line)


def block_lines(node: SyntaxTreeNode) -> list[str]:
    """Lines of one block-level node (paragraph, list, table, code, quote, raw HTML)."""
    kind = node.type
    if kind == "paragraph":
        text = inline_text(node.children[0]) if node.children else ""
        return [line for line in text.split("\n") if line]
    if kind in ("bullet_list", "ordered_list"):
        return _list_lines(node)
    if kind in ("fence", "code_block"):
        info = node.info.strip() if kind == "fence" else ""
        code = node.content.rstrip("\n")
        fence = "`" * max(3, _longest_backtick_run(code) + 1)
        return [f"{fence}{info}", *code.split("\n"), fence]
    if kind == "table":
        return _table_lines(node)
    if kind == "blockquote":
        return [f"> {line}" if line else ">" for line in _children_lines(node)]
    if kind == "html_block":
        return [line for line in html_fragment_text(node.content).split("\n") if line]
    if kind == "heading":  # a heading nested in a list or quote: keep it as a line
        return [inline_text(node.children[0])] if node.children else []
    return []


def _children_lines(node: SyntaxTreeNode) -> list[str]:
    lines: list[str] = []
    for child in node.children:
        lines.extend(block_lines(child))
    return lines


def _list_lines(node: SyntaxTreeNode) -> list[str]:
    ordered = node.type == "ordered_list"
    number = int(str(node.attrs.get("start", 1))) if ordered else 0
    lines: list[str] = []
    for item in node.children:
        marker = f"{number}. " if ordered else "- "
        number += 1
        item_lines = _children_lines(item) or [""]
        pad = " " * len(marker)
        lines.append(marker + item_lines[0])
        lines.extend(pad + line if line else "" for line in item_lines[1:])
    return lines


def _table_lines(node: SyntaxTreeNode) -> list[str]:
    rows: list[str] = []
    for section in node.children:
        for row in section.children:
            cells = [
                inline_text(cell.children[0]) if cell.children else "" for cell in row.children
            ]
            rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return rows
