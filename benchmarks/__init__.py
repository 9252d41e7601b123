"""Benchmarks of market data ingestion; run them with ``make bench``.

Inputs are generated in Binance Vision layout under ``$ARES_BENCH_DIR`` (default
``/tmp/ares_bench``), cached between runs, never inside the repository.
"""
