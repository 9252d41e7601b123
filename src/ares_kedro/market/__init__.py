"""Market data: Binance Vision and generic files, a synthetic market, consolidation.

Pure domain code: nothing here imports Kedro, so ingestion, training and live
prediction all call the same functions.
"""
