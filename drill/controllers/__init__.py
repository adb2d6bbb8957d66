"""Simulated controllers that make the drill cluster behave like the real platform."""
