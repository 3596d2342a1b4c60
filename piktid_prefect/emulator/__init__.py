"""A local PiktID emulator: a real HTTP server speaking the PiktID wire format."""
