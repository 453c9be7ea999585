"""The embedded search backend: SQLite FTS5 for BM25 plus an in-memory vector matrix.

`search.EmbeddedSearch` is the backend; `index`, `writes` and `rebuild` keep the SQLite
tables, `sqlite_db` the connections, `vector_matrix` the kNN side, `fts_query` the MATCH
expression.
"""
