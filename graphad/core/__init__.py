"""core layer of graphad (see DESIGN.md)."""
