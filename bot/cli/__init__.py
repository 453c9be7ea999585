"""The `supportbot` command line."""
