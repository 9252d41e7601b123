"""The project's artifact signing key: model files are unpickled only when their HMAC,
made with this key, matches (docs/decisions.md, "Integrity: model files").

Threat model: whoever can write the data folder (``data/``, a shared drive, the MLflow
artifact store) can swap a pickle and its record beside it, and a plain hash in that
record would only detect corruption. The key lives outside the data folder, in
``conf/local/artifact_signing.key`` (never committed, created with mode 0600 on the first
save), or where ``ARES_SIGNING_KEY_FILE`` points; without the key no one can make a
record that passes, so a swapped file is refused before a byte of it is unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

KEY_FILE_VARIABLE = "ARES_SIGNING_KEY_FILE"
DEFAULT_KEY_FILE = Path("conf") / "local" / "artifact_signing.key"
KEY_BYTES = 32


class MissingSigningKey(ValueError):
    """No signing key where one is needed to check a model file."""


def key_path() -> Path:
    """``$ARES_SIGNING_KEY_FILE``, else ``conf/local/artifact_signing.key`` under the
    current directory (a Kedro run starts in the project; the project hooks set the
    variable to the project's own file so that worker processes and notebooks agree)."""
    configured = os.environ.get(KEY_FILE_VARIABLE)
    return Path(configured) if configured else Path.cwd() / DEFAULT_KEY_FILE


_CONFIGURED_BY_USER = KEY_FILE_VARIABLE in os.environ  # read once, at import


def use_project_key(project_path: str | Path) -> None:
    """Point :func:`key_path` at ``project_path``'s key, unless the user set
    ``ARES_SIGNING_KEY_FILE`` before the process started (the variable reaches worker
    processes; a second project opened in the same process gets its own key)."""
    if not _CONFIGURED_BY_USER:
        os.environ[KEY_FILE_VARIABLE] = str(Path(project_path) / DEFAULT_KEY_FILE)


class ProjectSigningKey:
    """Kedro hook: every session signs and checks with its own project's key."""

    @hook_impl
    def after_context_created(self, context) -> None:
        use_project_key(context.project_path)


def signing_key(create: bool = False) -> bytes:
    """The key's bytes. ``create``: make a new random key when there is none (saving a
    model); otherwise a missing key is refused with the fix."""
    path = key_path()
    if path.is_file():
        key = bytes.fromhex(path.read_text().strip())
        if len(key) < KEY_BYTES:
            raise MissingSigningKey(f"{path}: the signing key is shorter than {KEY_BYTES} "
                                    "bytes; delete it and re-run to make a new one (the "
                                    "models signed with it must then be re-trained)")
        return key
    if not create:
        raise MissingSigningKey(
            f"no artifact signing key at {path}: model files are unpickled only when their "
            f"signature matches. Copy the key of the project that trained them there (or "
            f"set {KEY_FILE_VARIABLE}), or re-run the pipelines that save them")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.new")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:  # the first of several processes saving at once wins; the others read its key
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    logger.info("Created the artifact signing key %s (keep it out of the data folder; model "
                "files signed with it load only where it is)", path)
    return signing_key()


def signature(payload: bytes, key: bytes) -> str:
    """HMAC-SHA256 of ``payload`` under ``key``, hex."""
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def signature_matches(payload: bytes, recorded: str, key: bytes) -> bool:
    return hmac.compare_digest(signature(payload, key), str(recorded))
