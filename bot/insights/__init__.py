"""Insights for admins: what customers ask, what the bot declines, what it cites."""
