"""supportbot: answers customers from a company's help center, with citations."""
