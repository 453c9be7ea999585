"""Where each knowledge base's content comes from: registered folders and stored uploads."""
