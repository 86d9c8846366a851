"""Measuring arrays alone: streaming statistics, per-sample fingerprints, cross-split duplicates, shared
stretches, temporal structure, time scale and cheap baseline classifiers.

No model and no training here; facts in ``cnndoctor.facts`` call these and checks judge the numbers.
This package re-exports nothing.
"""
