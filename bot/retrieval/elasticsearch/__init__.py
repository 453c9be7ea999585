"""The Elasticsearch search backend: one index per KB behind an alias (see `mapping`).

`search.ElasticsearchSearch` is the backend; `cluster` holds the connection both it and a
rebuild (`build`) use; `bulk`, `indices`, `queries` and `errors` are its parts.
"""
