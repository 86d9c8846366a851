"""Keeping a run safe: the watchdog and phases behind ``--timeout`` (``timeout``), the user's prints kept
off stdout (``streams``) and the warnings raised while the user's code runs kept for the report
(``user_warnings``).

This package re-exports nothing.
"""
