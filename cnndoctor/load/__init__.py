"""Loading: the user's data files, arrays, torch datasets, model file, labels, optimizer and output choice,
read into one ``Subject``; the report's settings block is built from the subject.

The lowest floor: it knows nothing about facts, checks or the diagnosis. Import a module
(``cnndoctor.load.subject``), not this package: it re-exports nothing.
"""
