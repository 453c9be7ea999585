"""The HTTP API (FastAPI). `create_app(settings)` builds it; services are wired in the lifespan."""
