"""Run independent tasks in worker processes, one per core, each with one DuckDB thread.

A methodology replicate is single-threaded work most of the time (Splink's Python between
queries, numpy), so processes scale where DuckDB threads do not. Workers are spawned (not
forked: DuckDB and Splink hold threads and connections a fork would copy half-way),
import the toolkit once, and run with ``LINKAGE_THREADS=1``; Splink's warnings show from
INFO in them as everywhere (``linkage.library_logs``).

Example:
    >>> results = dict(run_tasks(abs, [-1, -2], jobs=1))
    >>> results
    {-1: 1, -2: 2}
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WORKER_ENV = {"LINKAGE_THREADS": "1"}


def _init_worker(env: dict[str, str]) -> None:
    os.environ.update(env)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def run_tasks(
    func: Callable[[Any], Any], tasks: Iterable[Any], *, jobs: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(task, func(task))`` as each task finishes (in completion order).

    ``jobs`` = 1 runs the tasks here, one after the other, with the caller's environment;
    more runs them in that many spawned worker processes with ``env`` (default
    ``WORKER_ENV``: one DuckDB thread each). ``func`` must be importable (module level).
    An exception in a task cancels the tasks not yet started and propagates.
    """
    tasks = list(tasks)
    if jobs <= 1:
        for task in tasks:
            yield task, func(task)
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(dict(WORKER_ENV if env is None else env),))
    try:
        futures = {pool.submit(func, task): task for task in tasks}
        for future in cf.as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
