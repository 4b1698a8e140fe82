"""The ServiceProvider base class: abstract verbs, safe hook defaults."""

from __future__ import annotations

from typing import Any

import pytest

import dpp_sdk as dpp


class _Complete(dpp.ServiceProvider):
    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        raise AssertionError("not called in these tests")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        pass

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        pass

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        return dpp.HealthReport.from_checks([])

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        pass

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        pass


def test_the_six_verbs_are_exactly_the_abstract_methods() -> None:
    """register, provision, configure, monitor, scale and decommission, and nothing else."""
    assert sorted(dpp.ServiceProvider.__abstractmethods__) == sorted(dpp.VERBS)


def test_a_provider_missing_verbs_cannot_be_instantiated_and_the_error_names_them() -> None:
    """Instantiating a subclass without scale and monitor raises naming both."""

    class Partial(dpp.ServiceProvider):
        register = _Complete.register
        provision = _Complete.provision
        configure = _Complete.configure
        decommission = _Complete.decommission

    with pytest.raises(dpp.IncompleteProvider) as info:
        Partial()
    assert info.value.missing == ("monitor", "scale")
    assert "monitor, scale" in str(info.value)
    assert "Partial" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_optional_hooks_have_safe_defaults() -> None:
    """on_maintenance allows, on_failure does nothing, data_probe offers none."""
    provider = _Complete()
    ctx: Any = object()  # the defaults must not touch the context at all
    request = dpp.MaintenanceRequest(
        instance="i", host="esx-01", mode=dpp.MaintenanceMode.NO_ACTION
    )
    assert provider.on_maintenance(ctx, request) == dpp.MaintenanceDecision.allow()
    event = dpp.FailureEvent(instance="i", kind=dpp.FailureKind.HOST_FAILURE, host="esx-01")
    assert provider.on_failure(ctx, event) is None
    assert provider.data_probe(ctx) is None


def test_a_veto_carries_reason_and_message() -> None:
    """MaintenanceDecision.veto records why, for the admin."""
    decision = dpp.MaintenanceDecision.veto(
        dpp.VetoReason.NOT_ENOUGH_RESOURCES, "would lose the majority"
    )
    assert not decision.allowed
    assert decision.reason is dpp.VetoReason.NOT_ENOUGH_RESOURCES


def test_temporary_error_keeps_its_retry_delay_and_refuses_a_negative_one() -> None:
    """retry_after is stored as seconds; a negative delay is a programming error."""
    assert dpp.TemporaryError("busy", retry_after=2).retry_after == 2.0
    with pytest.raises(ValueError, match="retry_after"):
        dpp.TemporaryError("busy", retry_after=-1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), -0.5])
def test_temporary_error_refuses_a_retry_after_that_is_not_finite_seconds(bad: float) -> None:
    """nan, infinities and negative delays are a ValueError naming retry_after and the value."""
    with pytest.raises(ValueError, match="retry_after") as info:
        dpp.TemporaryError("busy", retry_after=bad)
    assert repr(bad) in str(info.value)


def test_errors_are_grouped_under_one_root_and_inherit_builtins() -> None:
    """Every error is a DppError; validation is a ValueError, not-found a LookupError."""
    assert issubclass(dpp.ValidationError, ValueError)
    assert issubclass(dpp.NotFound, LookupError)
    assert issubclass(dpp.ScopeViolation, PermissionError)
    for cls in (dpp.PermanentError, dpp.TemporaryError, dpp.QuotaExceeded, dpp.PlacementFailed):
        assert issubclass(cls, dpp.DppError)
    assert str(dpp.NotFound("instance", "db1")) == "instance 'db1' not found"
