"""Secret parameters: those a parameter schema marks ``"writeOnly": true`` or
``"format": "password"``. Instances and operations hold ``********`` in their place; the values
are rows of their own (see :meth:`Repository.put_secret_parameters`), handed to providers and
redacted everywhere else, also from the problems of a refused request.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from dpp_sdk.contract import (
    DppError,
    InstanceSpec,
    Problem,
    ValidationError,
)
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._checks import (
    MASK,
    secret_parameter_names,
)
from dpp_sdk.platform._journal import Redactor
from dpp_sdk.platform._records import InstanceRecord
from dpp_sdk.platform._repository import Repository

__all__ = ["SecretParameters", "filled", "hiding"]


class SecretParameters:
    """Which parameters are secret, and their values across a change."""

    def __init__(self, repo: Repository, catalog: Catalog) -> None:
        self._repo = repo
        self._catalog = catalog

    def names_of_service(self, service: str) -> frozenset[str]:
        record = self._repo.find_service(service)
        if record is None:
            return frozenset()
        return secret_parameter_names(record.active.manifest.parameters_schema)

    def names_of(self, record: InstanceRecord) -> frozenset[str]:
        try:
            manifest = self._catalog.version_of(record).manifest
        except DppError:
            return frozenset()
        return secret_parameter_names(manifest.parameters_schema)

    def stash_and_store(self, name: str, secrets: Mapping[str, Any]) -> None:
        """Store a change's new secret values, keeping the ones they replace (``@previous``)
        until the change ends, so a failed change can put them back."""
        current = self._repo.secret_parameters(name)
        self._repo.put_secret_parameters(
            name, {f"{k}@previous": current[k] for k in secrets if k in current}
        )
        self._repo.put_secret_parameters(name, secrets)

    def settle(self, name: str, *, failed: bool) -> None:
        """A change ended: on failure put the replaced secret values back; forget them."""
        stored = self._repo.secret_parameters(name)
        previous = {k.removesuffix("@previous"): v for k, v in stored.items() if "@" in k}
        if failed:
            self._repo.put_secret_parameters(name, previous)
        for key in previous:
            self._repo.delete_secret_parameter(name, f"{key}@previous")

    def previous(self, name: str) -> dict[str, Any]:
        """The values a running change's secret parameters had before it."""
        stored = self._repo.secret_parameters(name)
        return {k.removesuffix("@previous"): v for k, v in stored.items() if "@" in k}


@contextlib.contextmanager
def hiding(values: Iterable[object]) -> Iterator[None]:
    """A request refused while it carries secret parameter values: the problems never show
    them (a schema message quotes the value it refuses), in any escaped form."""
    texts = [v if isinstance(v, str) else json.dumps(v) for v in values]
    try:
        yield
    except ValidationError as exc:
        if not texts:
            raise
        redactor = Redactor()
        redactor.add(texts)
        scrub = redactor.scrub
        raise ValidationError(
            scrub(exc.summary),
            [
                Problem(
                    path=p.path,
                    value=MASK
                    if isinstance(p.value, str) and scrub(p.value) != p.value
                    else p.value,
                    message=scrub(p.message),
                )
                for p in exc.problems
            ],
        ) from None


def filled(spec: InstanceSpec, secrets: Mapping[str, Any]) -> InstanceSpec:
    """``spec`` with masked secret parameters replaced by their values."""
    if not any(v == MASK for v in spec.parameters.values()):
        return spec
    return attrs.evolve(
        spec,
        parameters={k: secrets.get(k, v) if v == MASK else v for k, v in spec.parameters.items()},
    )
