"""Bearer tokens: the admin token, partner tokens scoped to a vendor, and checking one a
request presents.

The token is ``DPP_ADMIN_TOKEN`` when that is set; otherwise the one in the state directory's
``gateway-admin-token`` file (mode 0600), made with :func:`secrets.token_urlsafe` the first time
the gateway serves that directory. Only a SHA-256 digest of it is kept in memory, and a
presented token is compared digest to digest with :func:`hmac.compare_digest`.

Partner tokens (:class:`PartnerTokens`) are made by the admin over ``POST /v1/tokens``; only
their SHA-256 digests are stored (``gateway-partner-tokens.json``, mode 0600). See
``docs/security.md``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

import attrs

from dpp_sdk.contract import NotFound, ValidationError

__all__ = [
    "ADMIN",
    "ENV_VAR",
    "PARTNER_TOKENS_FILE",
    "TOKEN_FILE",
    "AdminToken",
    "Authenticator",
    "PartnerToken",
    "PartnerTokens",
    "Principal",
    "admin_token",
]

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


# ---------------------------------------------------------------------------- partner tokens

PARTNER_TOKENS_FILE = "gateway-partner-tokens.json"
_VENDOR_MAX = 200


@attrs.frozen
class Principal:
    """Who a request acts as: ``admin``, or a partner scoped to ``vendor``. ``name`` is what
    the audit trail records (``admin`` or ``partner:<vendor>``)."""

    vendor: str | None = None
    token_id: str | None = None

    @property
    def admin(self) -> bool:
        return self.vendor is None

    @property
    def name(self) -> str:
        return "admin" if self.vendor is None else f"partner:{self.vendor}"


ADMIN = Principal()


@attrs.frozen(kw_only=True)
class PartnerToken:
    """A partner token as listed: its id, vendor and creation time, never the token."""

    id: str
    vendor: str
    created_at: str


class PartnerTokens:
    """The partner tokens of one gateway: each a vendor and the SHA-256 digest of the token.

    With a state directory they live in its ``gateway-partner-tokens.json`` (mode 0600,
    replaced atomically, re-read when another process changed it); without one, in memory.
    The token itself is returned once, by :meth:`create`, and never stored."""

    def __init__(self, state_dir: Path | None) -> None:
        self.path = None if state_dir is None else state_dir / PARTNER_TOKENS_FILE
        self._lock = threading.Lock()
        self._entries: list[dict[str, str]] = []
        self._seen: tuple[int, int] | None = None

    def _load(self) -> None:
        """Re-read the file when it changed (called with the lock held)."""
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._entries, self._seen = [], None
            return
        version = (st.st_mtime_ns, st.st_size)
        if version == self._seen:
            return
        if stat.S_IMODE(st.st_mode) & 0o077:
            self.path.chmod(0o600)
        data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        self._entries = [dict(e) for e in data.get("tokens", [])]
        self._seen = version

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{PARTNER_TOKENS_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"tokens": self._entries}, file, indent=1)
        os.replace(temporary, self.path)
        st = self.path.stat()
        self._seen = (st.st_mtime_ns, st.st_size)

    def create(self, vendor: str) -> tuple[PartnerToken, str]:
        """A new token for ``vendor``: its listing entry and the token (shown once)."""
        if not isinstance(vendor, str) or not vendor.strip() or len(vendor) > _VENDOR_MAX:
            raise ValidationError.single(
                "$.vendor", vendor, f"must be a vendor name (1..{_VENDOR_MAX} characters)"
            )
        if vendor != vendor.strip() or not vendor.isprintable():
            raise ValidationError.single(
                "$.vendor", vendor, "must be printable, without leading or trailing spaces"
            )
        token = "dpp_p_" + secrets.token_urlsafe(32)
        entry = {
            "id": secrets.token_hex(6),
            "vendor": vendor,
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "sha256": _digest(token).hex(),
        }
        with self._lock:
            self._load()
            self._entries.append(entry)
            self._save()
        return _listed(entry), token

    def list(self) -> list[PartnerToken]:
        """Every partner token, oldest first (ids and vendors; no token, no digest)."""
        with self._lock:
            self._load()
            return [_listed(e) for e in self._entries]

    def revoke(self, token_id: str) -> PartnerToken:
        """Delete the token ``token_id`` (NotFound if there is none)."""
        with self._lock:
            self._load()
            for entry in self._entries:
                if entry["id"] == token_id:
                    self._entries.remove(entry)
                    self._save()
                    return _listed(entry)
        raise NotFound("token", token_id)

    def match(self, presented: str) -> Principal | None:
        """The partner ``presented`` belongs to, or None. Every digest is compared (in
        constant time each), whichever matches, so the time taken does not depend on it."""
        digest = _digest(presented)
        found: Principal | None = None
        with self._lock:
            self._load()
            entries = list(self._entries)
        for entry in entries:
            if hmac.compare_digest(digest, bytes.fromhex(entry["sha256"])):
                found = Principal(entry["vendor"], entry["id"])
        return found


def _listed(entry: Mapping[str, str]) -> PartnerToken:
    return PartnerToken(id=entry["id"], vendor=entry["vendor"], created_at=entry["created_at"])


class Authenticator:
    """Turns a presented bearer token into the :class:`Principal` it stands for."""

    def __init__(self, admin: AdminToken, partners: PartnerTokens) -> None:
        self.admin = admin
        self.partners = partners

    def principal(self, presented: str) -> Principal | None:
        """The principal of ``presented``, or None when it is no valid token."""
        is_admin = self.admin.matches(presented)
        partner = self.partners.match(presented)  # always asked: no shortcut to time
        if is_admin:
            return ADMIN
        return partner
