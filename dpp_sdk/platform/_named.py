"""The parts of the instance-scoped backend that hold no capacity: endpoints, secrets and the
provider's key-value state, and the facts every part reads (the instance's spec, the operation
running, the leak ledger). :class:`~dpp_sdk.platform._resources.InstanceResources` adds volumes
and members on top.
"""

from __future__ import annotations

import json
import re
import secrets as _secrets

import attrs

from dpp_sdk.contract import EndpointInfo, InstanceSpec, Secret, SecretInfo, ValidationError
from dpp_sdk.platform._checks import check_resource_name
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._records import JSON, EndpointRecord, LedgerEntry, SecretRecord
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._views import endpoint_info

__all__ = ["MIN_SECRET_LENGTH", "NamedResources"]

MIN_SECRET_LENGTH = 6  # characters; shorter values could not be redacted reliably
_PROTOCOL = re.compile(r"[a-z][a-z0-9+.-]{0,31}")


class NamedResources:
    """Endpoints, secrets and provider state of instances."""

    def __init__(self, repo: Repository, clock: Clock, journal: Journal) -> None:
        self._repo = repo
        self._journal = journal
        self._clock = clock
        self._lock = repo.lock

    # ------------------------------------------------------------------ instance facts

    def spec(self, instance: str) -> InstanceSpec:
        """The instance's current spec (secret parameters filled in)."""
        return self._repo.real_spec(self._repo.instance(instance))

    def _current_op(self, instance: str) -> str:
        return self._repo.instance(instance).operation or ""

    def _note(self, instance: str, kind: str, name: str, op_id: str) -> None:
        """Note in the leak ledger that ``instance`` came to hold ``kind/name``."""
        uid = self._repo.instance(instance).uid
        self._repo.add_ledger(
            uid, LedgerEntry(kind=kind, name=name, operation=op_id, time=self._clock.now())
        )

    # ------------------------------------------------------------------ endpoints

    def find_endpoint(self, instance: str, name: str) -> EndpointInfo | None:
        """Endpoint ``name``, or None."""
        record = self._repo.find_endpoint(instance, name)
        return None if record is None else endpoint_info(record)

    def list_endpoints(self, instance: str) -> list[EndpointInfo]:
        """The instance's endpoints."""
        return [endpoint_info(e) for e in self._repo.endpoints(instance)]

    def ensure_endpoint(
        self, instance: str, name: str, *, port: int, protocol: str, member: str | None
    ) -> EndpointInfo:
        """Get or create endpoint ``name``."""
        check_resource_name("endpoint", name)
        if not (isinstance(port, int) and 1 <= port <= 65535):
            raise ValidationError.single("$.endpoint.port", port, "must be an integer 1..65535")
        if not _PROTOCOL.fullmatch(protocol or ""):
            raise ValidationError.single("$.endpoint.protocol", protocol, "must be a URL scheme")
        with self._lock:
            found = self.find_endpoint(instance, name)
            if found is not None:
                return found
            if member is not None:
                self._repo.member(instance, member)
            address = (
                f"{member}.{instance}.svc.dpp.local"
                if member is not None
                else f"{instance}.svc.dpp.local"
            ).lower()
            record = EndpointRecord(
                name=name,
                protocol=protocol,
                address=address,
                port=port,
                member=member,
                created_by=self._current_op(instance),
            )
            with self._repo.store.transaction():
                self._repo.put_endpoint(instance, record)
                self._note(instance, "endpoint", name, record.created_by)
            return endpoint_info(record)

    # ------------------------------------------------------------------ secrets

    def find_secret(self, instance: str, name: str) -> Secret | None:
        """Secret ``name``, or None."""
        record = self._repo.find_secret(instance, name)
        return None if record is None else Secret(record.name, record.value)

    def list_secrets(self, instance: str) -> list[SecretInfo]:
        """The instance's secrets (names only)."""
        return [SecretInfo(name=s.name) for s in self._repo.secrets(instance)]

    def ensure_secret(self, instance: str, name: str, *, value: str | None, length: int) -> Secret:
        """Get or create secret ``name`` (generated when ``value`` is None)."""
        check_resource_name("secret", name)
        if value is None and not (isinstance(length, int) and 8 <= length <= 4096):
            raise ValidationError.single("$.secret.length", length, "must be 8..4096")
        if value is not None and not (
            isinstance(value, str) and MIN_SECRET_LENGTH <= len(value) <= 65536
        ):
            raise ValidationError.single(
                "$.secret.value",
                "********" if isinstance(value, str) else type(value).__name__,
                f"must be a string of {MIN_SECRET_LENGTH} to 65536 characters (shorter values "
                "cannot be told apart from ordinary text when logs are redacted)",
            )
        with self._lock:
            found = self.find_secret(instance, name)
            if found is not None:
                return found
            chosen = value if value is not None else _secrets.token_urlsafe(length)[:length]
            record = SecretRecord(name=name, value=chosen, created_by=self._current_op(instance))
            with self._repo.store.transaction():
                self._repo.put_secret(instance, record)
                self._note(instance, "secret", name, record.created_by)
            return Secret(name, chosen)

    def delete_named(self, kind: str, instance: str, name: str) -> None:
        """Delete endpoint or secret ``name`` (no-op if absent)."""
        self._repo.delete_named(kind, instance, name)

    # ------------------------------------------------------------------ provider state

    def provider_state(self, instance: str) -> dict[str, JSON]:
        """The provider's key-value state for the instance."""
        return dict(self._repo.instance(instance).provider_state)

    def set_provider_state(
        self, instance: str, key: str, value: JSON, *, delete: bool = False
    ) -> None:
        """Set (or delete) one key of the provider's state."""
        if not isinstance(key, str) or not key:
            raise ValidationError.single("$.state.key", key, "must be a non-empty string")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError.single("$.state.value", repr(value), f"not JSON: {exc}") from exc
        with self._lock, self._repo.store.transaction():
            record = self._repo.instance(instance)
            state = dict(record.provider_state)
            if delete:
                state.pop(key, None)
            else:
                state[key] = value
            self._repo.put_instance(attrs.evolve(record, provider_state=state))
