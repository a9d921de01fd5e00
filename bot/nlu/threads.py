"""One BLAS thread per process: the NLU multiplies one sentence at a time, and OpenBLAS's
worker threads, fighting the server and each other for the cores, made a 0.2 ms product
take 15 ms on a busy 2-core machine."""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    threadpool_limits(limits=1, user_api="blas")
