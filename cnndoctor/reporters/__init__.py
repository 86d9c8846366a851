"""Reporters render a ``Report``; they never compute anything about the subject."""
