"""Ingestion: load help-center files, parse, chunk, embed and index them.

    sources          folder or .zip (validated, read without extracting) → SourceTree
    collect          every article of a tree → ParsedDocument, or a reason it failed
      ignore         gitignore-style patterns of files that are not articles
      parsing        one file → ParsedDocument (by extension), URL/title rules in `urls`
        markdown_parser   front_matter → includes → template_markup (+ zulip_markup)
                          → admonitions → markdown-it → markdown_render → sections
        html_parser, text_parser
    chunking         ParsedDocument → Chunks (heading-aware, token-bounded; see `units`)
    embedding_text   the exact text embedded and reranked for a chunk
    ingest           Ingestor: incremental ingest and full rebuild (embed_writer batches)
    report           IngestProgress, IngestReport

Nothing here reads settings or builds models: collaborators are passed in.
"""
