"""Every model file of the catalog is signed: a pickle swapped in the data folder, with its
record rewritten, is refused by the next run before any of its code runs."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.io.core import DatasetError

from ares_kedro.datasets import manifest_path
from tests.conftest import PROJECT_ROOT
from tests.governor.test_live import Payload

MODEL_FILES = ["regime_model", "analyst_ensemble_GLOBAL", "analyst_calibrators",
               "tactician_models", "governor_model", "governor_baseline_lightgbm",
               "governor_decision_system"]


def test_no_catalog_entry_is_a_plain_pickle():
    catalog = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "catalog.yml").read_text())
    kinds = {name: entry["type"] for name, entry in catalog.items()
             if isinstance(entry, dict) and "type" in entry}
    pickles = {name: kind for name, kind in kinds.items() if "pickle" in kind.lower()}
    assert pickles and all(kind.startswith("ares_kedro.datasets.Signed")
                           for kind in pickles.values()), pickles


@pytest.mark.parametrize("name", MODEL_FILES)
def test_a_swapped_model_file_is_refused_by_the_catalog_and_never_runs(project, name):
    runtime = {"data_root": str(project / "data")}
    with KedroSession.create(project_path=project, runtime_params=runtime) as session:
        catalog = session.load_context().catalog
        catalog.save(name, {"a": "model"})
        assert catalog.load(name) == {"a": "model"}
        assert (project / "conf" / "local" / "artifact_signing.key").is_file()
        saved = next(p for p in Path(project / "data").rglob("*.pkl") if p.is_file())
        marker = project / "code_ran"
        crafted = pickle.dumps(Payload(marker))
        saved.write_bytes(crafted)
        record = json.loads(manifest_path(saved).read_text())
        record["sha256"] = hashlib.sha256(crafted).hexdigest()
        manifest_path(saved).write_text(json.dumps(record))
        with pytest.raises(DatasetError, match="signature does not match"):
            catalog.load(name)
    assert not marker.exists()
