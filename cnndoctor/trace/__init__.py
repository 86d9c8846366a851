"""Tracing one forward pass: the shape trace with forward hooks, the torch operations between modules, why
a forward pass failed (shape faults) and the receptive field at the head.

Hooks are removed and ``model.training`` restored in ``finally``. This package re-exports nothing.
"""
