"""The catalog: registered services, their versions, and the provider objects behind them.

:meth:`Catalog.provider_of` is the one way from an instance to its provider and manifest: an
instance keeps the service version it was created with, whatever version is active now.
"""

from __future__ import annotations

import threading

import attrs

from dpp_sdk.contract import (
    Conflict,
    DppError,
    IncompleteProvider,
    InstanceSpec,
    Manifest,
    NotFound,
    Problem,
    QuotaExceeded,
    ServiceProvider,
    ValidationError,
    validate_manifest,
)
from dpp_sdk.platform._calls import Deadlines, call_provider
from dpp_sdk.platform._checks import check_text
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._journal import Journal, first_line
from dpp_sdk.platform._loading import load_provider_class, normalise_ref
from dpp_sdk.platform._models import ServiceInfo, ServiceVersion
from dpp_sdk.platform._records import InstanceRecord, ServiceRecord
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._views import cluster_view

__all__ = ["Catalog"]


class Catalog:
    """Register, look up, enable, disable and activate services; load their providers."""

    def __init__(
        self, repo: Repository, journal: Journal, clock: Clock, deadlines: Deadlines
    ) -> None:
        self.deadlines = deadlines
        self._repo = repo
        self._journal = journal
        self._clock = clock
        self._providers: dict[str, ServiceProvider] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ providers

    def provider(self, ref: str) -> ServiceProvider:
        """The provider object for reference ``ref`` (loaded once per platform)."""
        with self._lock:
            provider = self._providers.get(ref)
            if provider is None:
                provider = load_provider_class(ref)()
                self._providers[ref] = provider
            return provider

    def forget_providers(self) -> None:
        """Drop loaded provider objects, so the next use loads them again."""
        with self._lock:
            self._providers.clear()

    def version_of(self, instance: InstanceRecord) -> ServiceVersion:
        """The service version ``instance`` was created with."""
        service = self._repo.service(instance.service)
        try:
            return service.version(instance.service_version)
        except KeyError:
            raise NotFound(
                "service version", f"{instance.service} {instance.service_version}"
            ) from None

    def provider_of(self, instance: InstanceRecord) -> ServiceProvider:
        """The provider serving ``instance``."""
        return self.provider(self.version_of(instance).provider)

    def active(self, service: str) -> tuple[ServiceRecord, ServiceVersion, ServiceProvider]:
        """Service ``service``, its active version and that version's provider."""
        record = self._repo.service(service)
        version = record.active
        return record, version, self.provider(version.provider)

    def validate(
        self, provider: ServiceProvider, spec: InstanceSpec, current: InstanceSpec | None
    ) -> list[Problem]:
        """The provider's own ``validate`` findings; a broken hook is itself a problem."""
        if type(provider).validate is ServiceProvider.validate:
            return []  # the default finds nothing; spare building the cluster view
        try:
            with self._repo.lock:
                view = cluster_view(self._repo.cluster())
            found = call_provider(
                "validate",
                self.deadlines["validate"],
                lambda: list(provider.validate(spec, view, current=current)),
            )
        except Exception as exc:
            return [
                Problem(
                    path="$",
                    value=None,
                    message=self._journal.scrub(
                        f"the provider's validate raised {type(exc).__name__}: {exc}"
                    ),
                )
            ]
        bad = [p for p in found if not isinstance(p, Problem)]
        if bad:
            return [
                Problem(
                    path="$",
                    value=self._journal.scrub(repr(bad[0])),
                    message="the provider's validate must return dpp_sdk.Problem objects",
                )
            ]
        # A provider may quote what it checked, stored secrets included: never shown.
        scrub = self._journal.scrub
        return [
            Problem(
                path=scrub(str(p.path)),
                value=scrub(p.value) if isinstance(p.value, str) else p.value,
                message=scrub(p.message),
            )
            for p in found
        ]

    # ------------------------------------------------------------------ registration

    def _load_for_registration(self, ref: str) -> tuple[ServiceProvider, Manifest]:
        provider_cls = load_provider_class(ref)
        try:
            provider = provider_cls()
        except Exception as exc:  # IncompleteProvider (names the verbs), or a failing __init__
            message = (
                str(exc)
                if isinstance(exc, IncompleteProvider)
                else f"cannot be instantiated: {type(exc).__name__}: {exc}"
            )
            raise ValidationError.single("$.provider", ref, message) from exc
        try:
            with self._repo.lock:
                view = cluster_view(self._repo.cluster())
            manifest = call_provider(
                "register", self.deadlines["register"], lambda: provider.register(view)
            )
        except DppError:
            raise
        except Exception as exc:  # a bug in register(): reported, not a traceback
            raise ValidationError.single(
                "$.provider", ref, f"register() raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(manifest, Manifest):
            raise ValidationError.single(
                "$.register()",
                type(manifest).__name__,
                f"{provider_cls.__qualname__}.register must return a dpp_sdk.Manifest",
            )
        validate_manifest(manifest)
        return provider, manifest

    def register(self, ref: str | type[ServiceProvider]) -> ServiceInfo:
        """Register (or re-register) a provider; see :meth:`Platform.register_service`."""
        ref_text = (
            f"{ref.__module__}:{ref.__qualname__}"
            if isinstance(ref, type)
            else normalise_ref(check_text("$.provider", ref, "MODULE:CLASS or a directory"))
        )
        try:
            provider, manifest = self._load_for_registration(ref_text)
        except Exception as exc:  # every refusal is audited, whatever raised it
            self._journal.audit("service.register", ref_text, "refused", first_line(exc))
            raise
        max_services = self._repo.config.max_services
        with self._repo.lock, self._journal.refusals("service.register", manifest.name):
            if (
                self._repo.find_service(manifest.name) is None
                and self._repo.count_services() >= max_services
            ):
                raise QuotaExceeded(
                    f"max_services is {max_services} and that many services are registered; "
                    f"{manifest.name!r} cannot be added",
                    limit="max_services",
                    used=max_services,
                    asked=1,
                    left=0,
                )
        with self._repo.lock, self._repo.store.transaction():
            known = self._repo.find_service(manifest.name)
            if known is None and self._repo.count_services() >= max_services:
                raise Conflict(
                    f"max_services ({max_services}) was reached by another process while "
                    f"{manifest.name!r} was being registered"
                )
            version = ServiceVersion(
                version=manifest.version,
                provider=ref_text,
                manifest=manifest,
                registered_at=self._clock.now(),
            )
            others = () if known is None else known.versions
            self._repo.put_service(
                ServiceRecord(
                    name=manifest.name,
                    enabled=True if known is None else known.enabled,
                    active_version=manifest.version,
                    versions=(*(v for v in others if v.version != manifest.version), version),
                )
            )
            with self._lock:
                self._providers[ref_text] = provider
            self._journal.audit(
                "service.register", manifest.name, "succeeded", f"version {manifest.version}"
            )
        return self.get(manifest.name)

    # ------------------------------------------------------------------ lookups and changes

    def info(self, record: ServiceRecord) -> ServiceInfo:
        """The public view of a catalog entry."""
        active = record.active
        return ServiceInfo(
            name=record.name,
            display_name=active.manifest.display_name,
            vendor=active.manifest.vendor,
            category=active.manifest.category.value,
            enabled=record.enabled,
            active_version=record.active_version,
            versions=record.versions,
            instances=self._repo.count_instances(record.name),
        )

    def get(self, name: str) -> ServiceInfo:
        """The catalog entry of ``name``."""
        return self.info(self._repo.service(name))

    def list(self) -> list[ServiceInfo]:
        """Every registered service, by name."""
        return [self.info(r) for r in self._repo.services()]

    def set_enabled(self, name: str, enabled: bool) -> ServiceInfo:
        """Allow or refuse new instances of ``name``."""
        with self._repo.lock, self._repo.store.transaction():
            record = self._repo.service(name)
            self._repo.put_service(attrs.evolve(record, enabled=enabled))
            self._journal.audit(
                "service.enable" if enabled else "service.disable", name, "succeeded"
            )
        return self.get(name)

    def activate(self, name: str, version: str) -> ServiceInfo:
        """Make registered ``version`` of ``name`` the active one."""
        with self._repo.lock:
            with self._journal.refusals("service.activate", name):
                record = self._repo.service(name)
                known = [v.version for v in record.versions]
                if version not in known:
                    raise ValidationError.single(
                        "$.version", version, f"not a registered version of {name}; one of {known}"
                    )
            with self._repo.store.transaction():
                self._repo.put_service(attrs.evolve(record, active_version=version))
                self._journal.audit("service.activate", name, "succeeded", f"version {version}")
        return self.get(name)
