"""Background jobs: ingest, re-index, delete and re-sync, on Celery or in-process."""
