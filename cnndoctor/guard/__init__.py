"""Keeping a run safe: the watchdog and phases behind ``--timeout`` (``timeout``) and the user's prints kept
off stdout (``streams``).

This package re-exports nothing.
"""
