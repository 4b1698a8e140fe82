"""The admin bearer token: where it comes from, and checking one a request presents.

The token is ``DPP_ADMIN_TOKEN`` when that is set; otherwise the one in the state directory's
``gateway-admin-token`` file (mode 0600), made with :func:`secrets.token_urlsafe` the first time
the gateway serves that directory. Only a SHA-256 digest of it is kept in memory, and a
presented token is compared digest to digest with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from dpp_sdk.contract import ValidationError

__all__ = ["ENV_VAR", "TOKEN_FILE", "AdminToken", "admin_token"]

ENV_VAR = "DPP_ADMIN_TOKEN"
TOKEN_FILE = "gateway-admin-token"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class AdminToken:
    """The admin token, kept as its digest. ``source`` says where it came from (the
    environment variable's name, or the token file's path) for the start-up message."""

    def __init__(self, token: str, source: str) -> None:
        if not token:
            raise ValidationError.single("$.token", token, "an admin token must not be empty")
        self._digest = _digest(token)
        self.source = source

    def matches(self, presented: str) -> bool:
        """Whether ``presented`` is the token, compared in constant time."""
        return hmac.compare_digest(self._digest, _digest(presented))

    def __repr__(self) -> str:
        return f"AdminToken(source={self.source!r})"


def admin_token(state_dir: Path, environ: Mapping[str, str] = os.environ) -> AdminToken:
    """The admin token for a gateway on ``state_dir``: ``DPP_ADMIN_TOKEN`` when set (an empty
    value is refused), otherwise read from, or first written to, the token file (0600)."""
    if ENV_VAR in environ:
        value = environ[ENV_VAR]
        if not value.strip():
            raise ValidationError.single(
                f"$.env.{ENV_VAR}", value, "is set but empty; set a token or unset it"
            )
        return AdminToken(value.strip(), ENV_VAR)
    path = state_dir / TOKEN_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        os.replace(temporary, path)
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # an earlier copy or umask left it readable by others
    return AdminToken(path.read_text(encoding="utf-8").strip(), str(path))
