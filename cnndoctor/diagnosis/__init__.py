"""From findings to an answer: causes ordered before the symptoms they explain, the primary root cause and
headline (``order``), automatic fixes applied to a copy of the subject (``fixes``) and verified by a short
probe (``verify``).

This package re-exports nothing.
"""
