"""Pytest fixtures that run the PiktID emulator (registered through the pytest11 entry point)."""
