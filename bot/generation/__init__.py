"""Generation: answers with numbered citations, by LLM (litellm) or extractive fallback."""
