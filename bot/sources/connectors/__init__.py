"""Connectors: read a knowledge base's articles from where they live (helpdesks, websites, Git)."""
