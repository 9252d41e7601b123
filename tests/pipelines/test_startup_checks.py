"""A bad parameter stops `kedro run` at start-up, before any node reads or writes data."""

from __future__ import annotations

import pytest
from kedro.framework.session import KedroSession


def test_kedro_run_stops_before_any_node_when_a_parameter_is_bad(project):
    runtime = {"data_root": str(project / "data"),
               "analyst": {"target_search": {"take_profit": [0.0, 0.02]}}}
    with pytest.raises(ValueError, match="take_profit"):
        with KedroSession.create(project_path=project, runtime_params=runtime) as session:
            session.run(pipeline_names=["ingestion"])
    assert not (project / "data").exists()  # nothing was read, generated or written
