"""backends layer of graphad (see DESIGN.md)."""
