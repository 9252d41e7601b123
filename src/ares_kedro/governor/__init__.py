"""The governor: one LONG / SHORT / HOLD decision from every regime ensemble and the
tactician (issue #7). Pure domain code, no Kedro."""
