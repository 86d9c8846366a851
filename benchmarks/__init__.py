"""cnndoctor's benchmarks: the bug zoo (benchmarks.zoo) and the performance benchmark (benchmarks.perf)."""
