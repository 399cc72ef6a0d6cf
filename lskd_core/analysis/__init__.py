"""Analyses of trained teachers and students (pure functions on tensors)."""
