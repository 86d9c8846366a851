"""The bug zoo: catalogued faults seeded into real data, diagnosed by the real CLI, and scored.

Each scenario is a model file, a deterministic data builder and the expected primary code(s).
``python -m benchmarks.zoo`` runs them all and writes the table into BENCHMARKS.md.
"""
