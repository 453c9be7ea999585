"""Markdown files: front matter, includes, template macros and admonitions, then structure.

Order matters: includes are expanded first (fragments carry macros too), macros are
rendered next (they expand to Markdown), admonitions last (their bodies are indented).
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from ingestion.admonitions import rewrite_admonitions
from ingestion.content import DocumentContent
from ingestion.front_matter import split_front_matter
from ingestion.includes import IncludeExpander
from ingestion.markdown_render import block_lines, inline_text
from ingestion.sections import SectionBuilder
from ingestion.template_markup import TemplateMarkup


class MarkdownParser:
    def __init__(self, markup: TemplateMarkup) -> None:
        self._markup = markup
        self._md = MarkdownIt("commonmark").enable(["table", "strikethrough"])

    def parse(self, text: str, path: str, includes: IncludeExpander) -> DocumentContent:
        front, body = split_front_matter(text)
        body = includes.expand(body, path).text
        body = rewrite_admonitions(self._markup.render(body))
        builder = SectionBuilder(front.text("title"))
        root = SyntaxTreeNode(self._md.parse(body))
        for node in root.children:
            if node.type == "heading":
                builder.heading(int(node.tag[1]), inline_text(node.children[0]))
            else:
                builder.block("\n".join(block_lines(node)))
        sections = builder.build()
        return DocumentContent(builder.title, front.text("url", "permalink"), sections)
