"""transforms layer of graphad (see DESIGN.md)."""
