"""Background work: the Celery app and its tasks (in-process runner when no broker)."""
