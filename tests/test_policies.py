"""Storage policies: the table of PRODUCT.md section 3, figure for figure."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpp_sdk.platform._policies import DEFAULT_POLICY, POLICIES, UnknownPolicy, get_policy

# name: (kind, raw use per GB, fault domains needed, FTT)
TABLE = {
    "vsan-default": ("mirror", 2.0, 3, 1),
    "vsan-raid5": ("erasure", 4 / 3, 4, 1),
    "vsan-raid6": ("erasure", 1.5, 6, 2),
    "vsan-sna": ("host-local", 1.0, 1, 0),
    "vsan-direct": ("direct", 1.0, 1, 0),
}


def test_the_platform_knows_exactly_the_five_policies_of_the_table() -> None:
    """POLICIES holds the five documented policies, in table order."""
    assert list(POLICIES) == list(TABLE)


@pytest.mark.parametrize("name", list(TABLE))
def test_each_policy_has_the_figures_of_the_table(name: str) -> None:
    """Kind, raw factor, fault domains needed and FTT match the product table exactly."""
    policy = POLICIES[name]
    assert policy.name == name
    assert (policy.kind, policy.raw_factor, policy.fault_domains_needed, policy.ftt) == TABLE[name]
    assert policy.description


def test_raid5_reserves_one_and_a_third_gb_per_gb() -> None:
    """vsan-raid5 is 3+1 erasure coding, so its raw factor is exactly 4/3 (~1.33)."""
    policy = POLICIES["vsan-raid5"]
    assert (policy.k, policy.m) == (3, 1)
    assert policy.raw_factor == 4 / 3
    assert round(policy.raw_factor, 2) == 1.33


def test_mirror_layout_is_two_replicas_and_a_witness() -> None:
    """vsan-default components are [replica, replica, witness] and the witness reserves 0 GB."""
    policy = POLICIES["vsan-default"]
    assert (policy.replicas, policy.witnesses) == (2, 1)
    assert policy.component_roles() == ["replica", "replica", "witness"]
    assert policy.component_sizes_gb(100) == [100.0, 100.0, 0.0]


def test_raid6_layout_is_four_data_and_two_parity_components() -> None:
    """vsan-raid6 splits a volume into 4 data + 2 parity components of size/4 each."""
    policy = POLICIES["vsan-raid6"]
    assert policy.component_roles() == ["data"] * 4 + ["parity"] * 2
    assert policy.component_sizes_gb(100) == [25.0] * 6


def test_raid5_layout_is_three_data_and_one_parity_component() -> None:
    """vsan-raid5 splits a volume into 3 data + 1 parity components of size/3 each."""
    policy = POLICIES["vsan-raid5"]
    assert policy.component_roles() == ["data", "data", "data", "parity"]
    assert policy.component_sizes_gb(300) == [100.0] * 4


@pytest.mark.parametrize(("name", "role"), [("vsan-sna", "local"), ("vsan-direct", "direct")])
def test_single_component_policies_reserve_the_size_itself(name: str, role: str) -> None:
    """vsan-sna and vsan-direct have one component reserving exactly the volume size."""
    policy = POLICIES[name]
    assert policy.component_roles() == [role]
    assert policy.component_sizes_gb(42.5) == [42.5]
    assert not policy.distributed


@settings(max_examples=50, deadline=None)
@given(
    name=st.sampled_from(list(TABLE)),
    size=st.floats(min_value=0, max_value=1e7, allow_nan=False),
)
def test_component_sizes_sum_to_size_times_raw_factor(name: str, size: float) -> None:
    """For every policy and size, the components reserve size * raw_factor in total."""
    policy = POLICIES[name]
    sizes = policy.component_sizes_gb(size)
    assert len(sizes) == len(policy.component_roles()) == policy.component_count
    assert math.isclose(math.fsum(sizes), size * policy.raw_factor, rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(policy.raw_gb(size), size * policy.raw_factor, rel_tol=1e-12, abs_tol=1e-9)


@pytest.mark.parametrize("name", list(TABLE))
def test_distributed_policies_have_one_component_per_fault_domain(name: str) -> None:
    """A distributed policy's component count equals the fault domains it needs."""
    policy = POLICIES[name]
    if policy.distributed:
        assert policy.component_count == policy.fault_domains_needed


@pytest.mark.parametrize("size", [-1.0, math.nan, math.inf])
def test_component_sizes_refuse_a_negative_or_non_finite_size(size: float) -> None:
    """A size that is negative, NaN or infinite raises ValueError naming the value."""
    with pytest.raises(ValueError, match="volume size"):
        POLICIES["vsan-default"].component_sizes_gb(size)


def test_get_policy_returns_the_named_policy() -> None:
    """get_policy looks a policy up by name, and the default policy exists."""
    assert get_policy("vsan-raid6") is POLICIES["vsan-raid6"]
    assert get_policy(DEFAULT_POLICY).name == "vsan-default"


def test_an_unknown_policy_lists_the_valid_names() -> None:
    """UnknownPolicy is a ValueError naming the bad name and every valid one."""
    with pytest.raises(UnknownPolicy) as caught:
        get_policy("vsan-gold")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.name == "vsan-gold"
    assert error.valid == tuple(TABLE)
    for name in ["vsan-gold", *TABLE]:
        assert name in str(error)


def test_unknown_policy_survives_pickling() -> None:
    """UnknownPolicy keeps its fields through pickle (errors may cross process boundaries)."""
    error = pickle.loads(pickle.dumps(UnknownPolicy("x", ("a", "b"))))
    assert (error.name, error.valid, str(error)) == (
        "x",
        ("a", "b"),
        str(UnknownPolicy("x", ("a", "b"))),
    )


def test_policies_cannot_be_changed() -> None:
    """POLICIES is read-only and each Policy is frozen."""
    with pytest.raises(TypeError):
        POLICIES["mine"] = POLICIES["vsan-sna"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        POLICIES["vsan-sna"].ftt = 3  # type: ignore[misc]
