"""frontends layer of graphad (see DESIGN.md)."""
