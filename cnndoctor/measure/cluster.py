"""Running the chunk summaries (``measure/chunked.py``) of whole splits: in this process or on Dask.

``summarize_splits`` summarises every chunk of each split and merges the summaries in a tree. Where:

- ``"sync"``: in this process (also when dask is not installed), each chunk cut into ``MAX_WORKERS`` pieces
  that run on the facts' threads (``measure/parallel``: as many as the probes', each reading and summarising its
  own pieces, merged in row order: the same summary on any thread count, and no more memory in flight than one
  chunk), one after another when a preprocess of the user's runs on them or the rows come from a reader two
  threads must not share;
- ``None`` / ``"auto"``: a ``dask.distributed.LocalCluster`` of ``LOCAL_WORKERS`` workers when dask
  and distributed are installed and the rows can be read by reference (files, zarr, dask arrays), else ``"sync"``;
- ``"local"``: such a LocalCluster, always;
- any other string: the address of a running Dask scheduler (``tcp://host:8786``), whose workers must reach the
  same files.

Each worker reads its own chunks (a ``RowSource`` travels as a path, never as data) and returns a summary;
merges run on the workers too, so only the final summary per split comes back. dask is imported only here,
and only when a cluster is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .chunked import ChunkSummary, merge, merge_all, summarize_chunk
from .parallel import MAX_WORKERS, map_parts

__all__ = ["LOCAL_WORKERS", "LOCAL_PROCESSES", "SplitJob", "Run", "summarize_splits", "summarize_range",
           "dask_available"]

LOCAL_WORKERS = 2  # the LocalCluster's workers (one thread each): the cores of a small machine
# Workers as threads of this process: worker processes are started with "spawn", which re-runs the user's main
# script (a script without an `if __name__ == "__main__":` guard then fails to start them) and costs seconds
# per worker; the chunk statistics are numpy reductions that release the GIL. A cluster of processes is one
# `--scheduler ADDRESS` away (benchmarks/perf.py measures both).
LOCAL_PROCESSES = False


@dataclass
class SplitJob:
    """One split to summarise: its rows (a ``RowSource``), class ids and group ids per row (or None)."""

    name: str
    source: object
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None


@dataclass
class Run:
    """The merged summary of each split, and how they were computed (for the report's notes)."""

    summaries: dict
    engine: str  # "in this process", "on a Dask LocalCluster of 2 workers (threads)", "on the Dask scheduler at …"
    chunks: int


def dask_available() -> bool:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def summarize_range(source, start: int, stop: int, *, labels=None, groups=None, channel_axis=None,
                    preprocess=None) -> ChunkSummary:
    """The summary of rows ``start``..``stop`` of ``source``, read where this runs."""
    return summarize_chunk(source.read(start, stop), start, labels=labels, groups=groups,
                           channel_axis=channel_axis, preprocess=preprocess)


def _slice(values, start: int, stop: int):
    return None if values is None else values[start:stop]


def _sync(jobs, chunk_bytes: int, channel_axis, preprocess) -> tuple[dict, int]:
    out, n = {}, 0
    for job in jobs:
        # pieces of a chunk, read and summarised on the facts' threads (measure/parallel) and merged in row order:
        # MAX_WORKERS pieces together hold no more than one chunk, and the pieces are the same on any thread count
        ranges = job.source.ranges(max(1, chunk_bytes // MAX_WORKERS))
        n += len(ranges)

        def one(r, job=job):
            return summarize_range(job.source, r[0], r[1], labels=_slice(job.labels, *r),
                                   groups=_slice(job.groups, *r), channel_axis=channel_axis, preprocess=preprocess)

        # one piece at a time when the user's preprocess runs on them, or the rows come from a reader that two
        # threads must not share
        concurrent = preprocess is None and getattr(job.source, "concurrent_reads", False)
        out[job.name] = merge_all(map_parts(one, ranges, concurrent=concurrent))
    return out, n


def _on_client(client, jobs, chunk_bytes: int, channel_axis, preprocess) -> tuple[dict, int]:
    finals, n = {}, 0
    for job in jobs:
        futures = []
        if hasattr(job.source, "blocks"):  # a dask array: its blocks are computed on the cluster
            for (a, b), block in job.source.blocks(chunk_bytes):
                data = client.compute(block)
                futures.append(client.submit(summarize_chunk, data, a, labels=_slice(job.labels, a, b),
                                             groups=_slice(job.groups, a, b), channel_axis=channel_axis,
                                             preprocess=preprocess, pure=False))
        else:
            source = client.scatter(job.source, broadcast=True)  # a path and a shape, sent once
            for a, b in job.source.ranges(chunk_bytes):
                futures.append(client.submit(summarize_range, source, a, b, labels=_slice(job.labels, a, b),
                                             groups=_slice(job.groups, a, b), channel_axis=channel_axis,
                                             preprocess=preprocess, pure=False))
        n += len(futures)
        while len(futures) > 1:  # a tree of merges on the workers, adjacent ranges paired
            futures = [client.submit(merge, futures[i], futures[i + 1], pure=False) if i + 1 < len(futures)
                       else futures[i] for i in range(0, len(futures), 2)]
        finals[job.name] = futures[0]
    return {name: future.result() for name, future in finals.items()}, n


def summarize_splits(jobs: list[SplitJob], *, chunk_bytes: int, channel_axis=None, preprocess=None,
                     scheduler: str | None = None) -> Run:
    """Summarise every split of ``jobs`` chunk by chunk on ``scheduler`` (see the module doc)."""
    by_reference = all(getattr(j.source, "kind", "array") != "array" for j in jobs)
    mode = (scheduler or "auto").strip()
    if mode == "auto":
        mode = "local" if by_reference and preprocess is None and dask_available() else "sync"
    if mode == "sync":
        summaries, n = _sync(jobs, chunk_bytes, channel_axis, preprocess)
        return Run(summaries, "in this process", n)
    from distributed import Client, LocalCluster

    if mode == "local":
        with LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=LOCAL_PROCESSES,
                          dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            summaries, n = _on_client(client, jobs, chunk_bytes, channel_axis, preprocess)
        kind = "processes" if LOCAL_PROCESSES else "threads"
        return Run(summaries, f"on a Dask LocalCluster of {LOCAL_WORKERS} workers ({kind})", n)
    with Client(mode, timeout="10s") as client:
        summaries, n = _on_client(client, jobs, chunk_bytes, channel_axis, preprocess)
    return Run(summaries, f"on the Dask scheduler at {mode}", n)
