"""Observability: Prometheus metrics, OpenTelemetry traces, per-request log lines."""
