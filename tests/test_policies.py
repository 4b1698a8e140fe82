"""Storage policies: the table of PRODUCT.md section 3, figure for figure, with vSAN's RAID-1
FTT=2 and FTT=3 mirrors and ESA's adaptive RAID-5 (issue 9, item 7)."""

from __future__ import annotations

import json
import math
import pickle
from importlib import resources

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk.platform._policies import (
    ARCHITECTURES,
    DEFAULT_POLICY,
    ESA_WIDE_RAID5_FAULT_DOMAINS,
    POLICIES,
    UnknownPolicy,
    get_policy,
)
from dpp_sdk.platform._views import scheme_for
from tests.providers import KV_MANIFEST

# name: (kind, raw use per GB, fault domains needed, FTT)
TABLE = {
    "vsan-default": ("mirror", 2.0, 3, 1),
    "vsan-raid1-ftt2": ("mirror", 3.0, 5, 2),
    "vsan-raid1-ftt3": ("mirror", 4.0, 7, 3),
    "vsan-raid5": ("erasure", 4 / 3, 4, 1),
    "vsan-raid6": ("erasure", 1.5, 6, 2),
    "vsan-sna": ("host-local", 1.0, 1, 0),
    "vsan-direct": ("direct", 1.0, 1, 0),
}


# ESA's adaptive RAID-5, by the cluster's fault domains: (k, m, raw use per GB, fault domains)
ESA_RAID5 = {3: (2, 1, 1.5, 3), 4: (2, 1, 1.5, 3), 5: (2, 1, 1.5, 3), 6: (4, 1, 1.25, 5)}

MIRRORS = {"vsan-default": 1, "vsan-raid1-ftt2": 2, "vsan-raid1-ftt3": 3}


THICK = [f"{name}-thick" for name in TABLE if name != "vsan-direct"]


def test_the_platform_knows_exactly_the_seven_policies_of_the_table_and_their_thick_twins() -> None:
    """POLICIES holds the documented policies, in table order, then the thick twins; the
    contract names them all."""
    assert list(POLICIES) == [*TABLE, *THICK]
    assert (*TABLE, *THICK) == dpp.POLICY_NAMES


def test_vsan_policies_are_thin_and_their_twins_reserve_everything() -> None:
    """Object space reservation: 0% for the table's vSAN policies, 100% for each -thick twin
    (same layout) and for vsan-direct."""
    for name in TABLE:
        assert POLICIES[name].thin is (name != "vsan-direct")
    for name in THICK:
        twin, base = POLICIES[name], POLICIES[name.removesuffix("-thick")]
        assert (twin.space_reservation, twin.thin) == (100, False)
        if twin.esa_adaptive:  # its ESA layouts stay thick
            assert twin.with_data_components(2).space_reservation == 100
        assert (twin.kind, twin.raw_factor, twin.fault_domains_needed, twin.ftt) == (
            base.kind,
            base.raw_factor,
            base.fault_domains_needed,
            base.ftt,
        )


def test_a_thin_policy_reserves_what_was_written_and_a_thick_one_its_size() -> None:
    """reserved_sizes_gb: the written part (at most the size) when thin, the size when thick."""
    assert POLICIES["vsan-default"].reserved_sizes_gb(100, 30) == [30.0, 30.0, 0.0]
    assert POLICIES["vsan-default"].reserved_sizes_gb(100, 300) == [100.0, 100.0, 0.0]
    assert POLICIES["vsan-raid5"].reserved_sizes_gb(90, 0) == [0.0] * 4
    assert POLICIES["vsan-default-thick"].reserved_sizes_gb(100, 30) == [100.0, 100.0, 0.0]
    assert POLICIES["vsan-direct"].reserved_sizes_gb(100) == [100.0]
    with pytest.raises(ValueError, match="written GB must be a finite number >= 0, got -1"):
        POLICIES["vsan-sna"].reserved_sizes_gb(100, -1)


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
    assert error.valid == (*TABLE, *THICK)
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


@pytest.mark.parametrize(("name", "ftt"), MIRRORS.items())
def test_a_raid1_mirror_keeps_ftt_plus_one_replicas_and_ftt_witnesses(name: str, ftt: int) -> None:
    """RAID-1 FTT=n: n+1 full replicas then n witnesses of 0 GB, on 2n+1 fault domains, (n+1)x."""
    policy = POLICIES[name]
    assert (policy.replicas, policy.witnesses) == (ftt + 1, ftt)
    assert policy.component_roles() == ["replica"] * (ftt + 1) + ["witness"] * ftt
    assert policy.component_sizes_gb(100) == [100.0] * (ftt + 1) + [0.0] * ftt
    assert policy.fault_domains_needed == 2 * ftt + 1
    assert policy.raw_gb(100) == 100.0 * (ftt + 1)


@pytest.mark.parametrize(("name", "ftt"), MIRRORS.items())
def test_a_raid1_mirror_tolerates_exactly_its_ftt_in_votes_and_data(name: str, ftt: int) -> None:
    """Its byte layout (scheme) tolerates FTT lost components: the witnesses keep a majority."""
    scheme = scheme_for(POLICIES[name])
    assert scheme.component_count == 2 * ftt + 1
    assert scheme.tolerates() == ftt


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(list(MIRRORS)), data=st.data())
def test_any_ftt_lost_mirror_components_keep_it_accessible_and_one_more_does_not(
    name: str, data: st.DataObject
) -> None:
    """Any FTT of the 2*FTT+1 components may go (votes and a replica remain); any FTT+1 may not
    all go without losing the majority."""
    ftt = MIRRORS[name]
    scheme = scheme_for(POLICIES[name])
    every = list(range(scheme.component_count))
    lost = data.draw(
        st.lists(st.sampled_from(every), min_size=ftt + 1, max_size=ftt + 1, unique=True)
    )
    assert scheme.is_accessible(set(every) - set(lost[:ftt]))
    assert not scheme.is_accessible(set(every) - set(lost))
    assert scheme.why_inaccessible(set(every) - set(lost))


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(list(TABLE)), fault_domains=st.integers(1, 1000))
def test_under_osa_every_policy_keeps_its_table_layout_whatever_the_cluster_size(
    name: str, fault_domains: int
) -> None:
    """OSA has no adaptive layout: for_cluster returns the table's policy itself."""
    policy = POLICIES[name]
    assert policy.for_cluster(architecture="osa", fault_domains=fault_domains) is policy


@settings(max_examples=100, deadline=None)
@given(fault_domains=st.integers(1, 1000))
def test_under_esa_raid5_is_2_plus_1_below_six_fault_domains_and_4_plus_1_from_six(
    fault_domains: int,
) -> None:
    """ESA's adaptive RAID-5: 2+1 (1.5x, 3 fault domains) below 6, 4+1 (1.25x, 5) from 6 on."""
    layout = POLICIES["vsan-raid5"].for_cluster(architecture="esa", fault_domains=fault_domains)
    expected = ESA_RAID5[min(max(fault_domains, 3), ESA_WIDE_RAID5_FAULT_DOMAINS)]
    assert (layout.k, layout.m, layout.raw_factor, layout.fault_domains_needed) == expected
    assert (layout.name, layout.kind, layout.ftt) == ("vsan-raid5", "erasure", 1)
    assert layout.component_roles() == ["data"] * layout.k + ["parity"]
    assert layout.component_sizes_gb(100) == [100 / layout.k] * (layout.k + 1)
    assert f"{layout.k}+1" in layout.description
    assert scheme_for(layout).tolerates() == 1


@pytest.mark.parametrize("name", [n for n in TABLE if n != "vsan-raid5"])
@pytest.mark.parametrize("fault_domains", [3, 6, 64])
def test_under_esa_every_policy_but_raid5_keeps_its_table_layout(
    name: str, fault_domains: int
) -> None:
    """RAID-6 stays 4+2 under ESA, and the mirrors and FTT=0 policies do not change either."""
    policy = POLICIES[name]
    assert policy.for_cluster(architecture="esa", fault_domains=fault_domains) is policy


def test_the_architectures_are_osa_and_esa() -> None:
    """Two architectures, Original first (the default)."""
    assert ARCHITECTURES == ("osa", "esa")


@pytest.mark.parametrize(("k", "raw"), [(2, 1.5), (3, 4 / 3), (4, 1.25)])
def test_a_recorded_k_gives_the_raid5_layout_a_volume_was_created_with(k: int, raw: float) -> None:
    """with_data_components(k) is k+1 over k+1 fault domains; k=3 is the table's policy itself."""
    layout = POLICIES["vsan-raid5"].with_data_components(k)
    assert (layout.k, layout.m, layout.raw_factor, layout.fault_domains_needed) == (
        k,
        1,
        raw,
        k + 1,
    )
    if k == 3:
        assert layout is POLICIES["vsan-raid5"]


@pytest.mark.parametrize("name", list(TABLE))
def test_no_recorded_k_means_the_table_layout(name: str) -> None:
    """A volume stored before k was recorded (k None) keeps the table's layout: RAID-5 is 3+1."""
    assert POLICIES[name].with_data_components(None) is POLICIES[name]


def test_choosing_data_components_of_a_mirror_names_the_policy_and_value() -> None:
    """k applies to erasure coding only; the ValueError names the value and the policy."""
    with pytest.raises(ValueError, match=r"k = 2: policy vsan-default is mirror, not erasure"):
        POLICIES["vsan-default"].with_data_components(2)
    with pytest.raises(ValueError, match=r"k = 0: an erasure layout needs at least 1"):
        POLICIES["vsan-raid5"].with_data_components(0)


def _policy_enums(node: object) -> list[list[str]]:
    """Every ``enum`` in a JSON schema that lists storage policies."""
    if isinstance(node, dict):
        found = [node["enum"]] if "vsan-default" in node.get("enum", ()) else []
        return found + [e for value in node.values() for e in _policy_enums(value)]
    if isinstance(node, list):
        return [e for value in node for e in _policy_enums(value)]
    return []


@pytest.mark.parametrize("schema", ["manifest", "instance"])
def test_every_policy_enum_of_the_json_schemas_lists_exactly_the_platform_policies(
    schema: str,
) -> None:
    """Manifests and instances validate policies against the whole table, in table order,
    then the thick twins."""
    text = resources.files("dpp_sdk.schemas").joinpath(f"{schema}.schema.json").read_text("utf-8")
    enums = _policy_enums(json.loads(text))
    assert len(enums) == 2
    assert all(enum == [*TABLE, *THICK] for enum in enums)


def test_a_manifest_may_offer_the_new_mirrors_and_not_a_policy_outside_the_table() -> None:
    """validate_manifest accepts the RAID-1 FTT=2/3 policies and refuses vsan-raid1-ftt4,
    naming the path of the list item and the value."""
    manifest = attrs.evolve(
        KV_MANIFEST,
        supported_policies=("vsan-raid1-ftt2", "vsan-raid1-ftt3"),
        default_policy="vsan-raid1-ftt3",
    )
    dpp.validate_manifest(manifest)
    bad = attrs.evolve(manifest, supported_policies=("vsan-raid1-ftt3", "vsan-raid1-ftt4"))
    with pytest.raises(dpp.ManifestError) as caught:
        dpp.validate_manifest(bad)
    (problem,) = caught.value.problems
    assert (problem.path, problem.value) == ("$.supported_policies[1]", "vsan-raid1-ftt4")
