"""Tasks that work on text."""
