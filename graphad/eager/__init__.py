"""eager layer of graphad (see DESIGN.md)."""
