"""Shared numerical primitives (public, tested on their own)."""
