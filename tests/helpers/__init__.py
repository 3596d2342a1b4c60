"""Helpers shared by test suites (a real Prefect server, a headless browser)."""
