"""Fact modules: each module registers facts with ``@cnndoctor.context.fact``.

Every module in this package is imported when the first ``Context`` is made, so a new
fact module needs no registration beyond being here.
"""
