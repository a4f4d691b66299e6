"""Batch work across processes: local worker processes (``--workers N``) or a Ray cluster
(``--ray ADDRESS``), results in input order, identical to one process.

A :class:`ShardedTask` stands in for a task pipeline (``TorchTask`` / ``ExportedTask``): its
``generate``, ``classify`` and ``answer_many`` cut the inputs into shards of ``shard_size``, send
them to workers that each opened the same task folder once (``memgpt.cli.common.open_task``
arguments), and yield or return the results in input order; every other attribute is the local
task's (settings, tokenizer, hashes: the report of a sharded run names the same model).

Failure: a shard whose worker dies (killed, out of memory) is sent again — to a fresh pool of
processes, or a fresh Ray actor — up to ``retries`` times; each shard's result is kept once, so
nothing is lost or duplicated. A shard that raises an ordinary error fails the run with it.

Threads: each of N workers gets ``max(1, threads // N)`` threads, so N workers together use the
cores one process would.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)

_TASK: Any = None  # the task a worker process opened (one per process)


def _open(opener: Callable[..., Any], open_args: dict, threads: int) -> Any:
    from memgpt.threads import set_threads

    set_threads(threads)
    return opener(**open_args)


def _init_worker(opener: Callable[..., Any], open_args: dict, threads: int) -> None:
    global _TASK
    _TASK = _open(opener, open_args, threads)


def _call(task: Any, method: str, items: list, kwargs: dict) -> list:
    if method == "answer_many":
        return [task.answer(q, c, **kwargs) for q, c in items]
    return getattr(task, method)(items, **kwargs)


def _run_shard(method: str, items: list, kwargs: dict) -> tuple[int, list]:
    return os.getpid(), _call(_TASK, method, items, kwargs)


class Worker:
    """A Ray actor body: opens the task once, runs shards."""

    def __init__(self, opener: Callable[..., Any], open_args: dict, threads: int) -> None:
        self.task = _open(opener, open_args, threads)

    def run(self, method: str, items: list, kwargs: dict) -> tuple[int, list]:
        return os.getpid(), _call(self.task, method, items, kwargs)


class ShardedTask:
    """A task pipeline whose batch methods run on ``workers`` processes or a Ray cluster.

    Args:
        local: the task opened here (its settings, tokenizer and hashes are used as they are).
        opener, open_args: each worker opens its task with ``opener(**open_args)`` (a
            module-level function, e.g. ``memgpt.cli.common.open_task`` with task, adapter,
            weights, device, runtime, export_dir).
        workers: processes (local) or actors (Ray).
        ray_address: None (local processes), ``local`` (start a local Ray cluster) or an
            address / ``auto`` (join a running one).
        shard_size: inputs per shard.
    """

    def __init__(self, local: Any, opener: Callable[..., Any], open_args: dict, *,
                 workers: int, threads: int, ray_address: str | None = None,
                 shard_size: int = 8, retries: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.local, self.opener, self.open_args = local, opener, dict(open_args)
        self.workers = workers
        self.threads = max(1, threads // workers)
        self.ray_address, self.shard_size, self.retries = ray_address, shard_size, retries
        self.worker_pids: set[int] = set()
        self._pool = self._actors = None

    def __getattr__(self, name: str) -> Any:
        if name == "local":
            raise AttributeError(name)
        return getattr(self.local, name)

    # ----------------------------------------------------------------- the batch methods
    def generate(self, texts: Sequence[str], *, on_text=None, batch_size: int = 1,
                 **kwargs: Any) -> list:
        return list(self.imap("generate", list(texts), {"batch_size": batch_size, **kwargs}))

    def classify(self, texts: Sequence[str], **kwargs: Any) -> list:
        return list(self.imap("classify", list(texts), kwargs))

    def answer_many(self, pairs: Sequence[tuple[str, str]], **kwargs: Any) -> list:
        return list(self.imap("answer_many", [tuple(p) for p in pairs], kwargs))

    def imap(self, method: str, items: list, kwargs: dict) -> Iterator[Any]:
        """Results of ``method`` over ``items``, in input order, as the shards finish."""
        shards = [items[i:i + self.shard_size] for i in range(0, len(items), self.shard_size)]
        run = self._ray_shards if self.ray_address else self._local_shards
        for part in run(method, shards, kwargs):
            yield from part

    # ----------------------------------------------------------------- local processes
    def _new_pool(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker,
                                   initargs=(self.opener, self.open_args, self.threads))

    def _local_shards(self, method: str, shards: list, kwargs: dict) -> Iterator[list]:
        from concurrent.futures.process import BrokenProcessPool

        done: dict[int, list] = {}
        attempts = nxt = 0
        while nxt < len(shards):
            if self._pool is None:
                self._pool = self._new_pool()
            futures = {k: self._pool.submit(_run_shard, method, shards[k], kwargs)
                       for k in range(nxt, len(shards)) if k not in done}
            try:
                while nxt < len(shards):
                    if nxt not in done:
                        done[nxt] = self._take(futures[nxt].result())
                    yield done.pop(nxt)
                    nxt += 1
            except BrokenProcessPool:
                # shards that finished before the pool broke are kept, not run again
                for k, f in futures.items():
                    if k not in done and k > nxt and f.done() and not f.cancelled() \
                            and f.exception() is None:
                        done[k] = self._take(f.result())
                attempts += 1
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                if attempts > self.retries:
                    raise RuntimeError(f"a worker process died {attempts} times; giving up "
                                       f"at shard {nxt + 1} of {len(shards)}") from None
                log.warning("a worker process died; sending its unfinished shards again "
                            "(retry %d of %d)", attempts, self.retries)

    def _take(self, result: tuple[int, list]) -> list:
        pid, out = result
        self.worker_pids.add(pid)
        return out

    # ----------------------------------------------------------------- Ray
    def _ray(self):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--ray needs Ray: pip install 'memgpt[ray]' (or pip install "
                               "ray)") from None
        if not ray.is_initialized():
            if self.ray_address == "local":
                ray.init(num_cpus=self.workers, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=self.ray_address, log_to_driver=False,
                         configure_logging=False)
        return ray

    def _new_actor(self, ray):
        cls = ray.remote(num_cpus=1, max_restarts=0)(Worker)
        return cls.remote(self.opener, self.open_args, self.threads)

    def _ray_shards(self, method: str, shards: list, kwargs: dict) -> Iterator[list]:
        ray = self._ray()
        from ray.exceptions import RayActorError

        if self._actors is None:
            self._actors = [self._new_actor(ray) for _ in range(self.workers)]
        refs = {k: (k % self.workers, self._actors[k % self.workers].run.remote(
            method, shards[k], kwargs)) for k in range(len(shards))}
        attempts = 0
        for k in range(len(shards)):
            while True:
                slot, ref = refs[k]
                try:
                    pid, out = ray.get(ref)
                    break
                except RayActorError as e:
                    attempts += 1
                    if attempts > self.retries:
                        why = str(e).strip().splitlines()[:1]
                        raise RuntimeError(f"a Ray worker died {attempts} times; giving up at "
                                           f"shard {k + 1} of {len(shards)}"
                                           + (f" ({why[0][:200]})" if why else "")) from None
                    log.warning("a Ray worker died; its shards go to a new one (retry %d of "
                                "%d)", attempts, self.retries)
                    self._actors[slot] = self._new_actor(ray)
                    for j in range(k, len(shards)):  # every unfinished shard of that actor
                        if refs[j][0] == slot:
                            refs[j] = (slot, self._actors[slot].run.remote(method, shards[j],
                                                                           kwargs))
            self.worker_pids.add(pid)
            yield out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._actors is not None:
            import ray

            for a in self._actors:
                ray.kill(a)
            self._actors = None
