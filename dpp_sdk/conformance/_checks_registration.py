"""Registration: the manifest, its plans and parameter schema, and ``register`` itself."""

from __future__ import annotations

import jsonschema

from dpp_sdk.conformance._registry import Category, Level, check
from dpp_sdk.conformance._trial import Trial, said
from dpp_sdk.contract import ClusterView, DppError, PermanentError, ValidationError

R = Category.REGISTRATION


def _view(t: Trial) -> ClusterView:
    return ClusterView(hosts=tuple(t.platform.list_hosts()))


@check(
    "REG-001",
    R,
    "The provider registers on the conformance cluster with a valid manifest",
    quick=True,
)
def registers_with_a_valid_manifest(t: Trial) -> None:
    service = t.platform.get_service(t.service)
    t.expect(
        service.active.manifest == t.subject.manifest,
        "the registered manifest to be the one the provider returns",
        f"the catalog holds {service.active.manifest!r}",
    )
    t.expect(bool(t.subject.manifest.plans), "at least one plan", "the manifest has none")


@check(
    "REG-002",
    R,
    "register is repeatable: the same manifest every time, and no side effects",
    quick=True,
)
def register_is_repeatable(t: Trial) -> None:
    provider = t.subject.provider_class()
    view = _view(t)
    first, second = provider.register(view), provider.register(view)
    t.expect(
        first == second, "equal manifests from two calls of register", f"{first!r} then {second!r}"
    )
    again = t.platform.register_service(t.subject.ref)
    t.expect(
        again.active.manifest == t.subject.manifest and len(again.versions) == 1,
        "re-registering the same version to refresh it, not add a version",
        f"the catalog now has versions {[v.version for v in again.versions]}",
    )


@check(
    "REG-003",
    R,
    "Every plan's parameters, with the schema's defaults, satisfy the parameter schema",
)
def plan_parameters_satisfy_the_schema(t: Trial) -> None:
    schema = t.subject.manifest.parameters_schema
    validator = jsonschema.Draft202012Validator(schema)
    for plan in t.subject.manifest.plans:
        errors = sorted(validator.iter_errors(dict(plan.parameters)), key=lambda e: e.json_path)
        t.expect(
            not errors,
            f"plan {plan.name!r}'s parameters to satisfy the schema",
            "; ".join(f"{e.json_path}: {e.message}" for e in errors),
        )


@check(
    "REG-004", R, "Every parameter the schema declares has a description", level=Level.RECOMMENDED
)
def parameters_are_described(t: Trial) -> None:
    properties = t.subject.manifest.parameters_schema.get("properties", {})
    bare = sorted(key for key, prop in properties.items() if not prop.get("description"))
    t.expect(not bare, "a description for every parameter", f"no description: {', '.join(bare)}")


@check(
    "REG-005",
    R,
    "On a cluster too small for it, register raises PermanentError or succeeds, never crashes",
)
def register_refuses_a_tiny_cluster_cleanly(t: Trial) -> None:
    provider = t.subject.provider_class()
    hosts = _view(t).hosts[:1]
    try:
        provider.register(ClusterView(hosts=hosts))
    except (PermanentError, ValidationError) as error:
        t.note(f"refused a one-host cluster: {said(error)}")
    except DppError as error:
        t.fail("PermanentError (or a manifest) for a one-host cluster", f"it raised {said(error)}")
    except Exception as error:
        t.fail(
            "PermanentError (or a manifest) for a one-host cluster", f"it crashed: {said(error)}"
        )
