"""Equivalence tests: every fast path against its reference, and the switch that turns them off."""
