"""The volume byte store keeps real bytes with each policy's redundancy, like vSAN would."""

from __future__ import annotations

import itertools
import pathlib
import pickle
import random
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpp_sdk.contract._errors import DataUnavailable as ContractDataUnavailable
from dpp_sdk.platform._storage import CHUNK, DataUnavailable, Scheme, VolumeStore

RAID1 = Scheme(kind="mirror", replicas=2, witnesses=1)
RAID5 = Scheme(kind="erasure", k=3, m=1)
RAID6 = Scheme(kind="erasure", k=4, m=2)
SINGLE = Scheme(kind="single")
SCHEMES = [RAID1, RAID5, RAID6, SINGLE]
REDUNDANT = [RAID1, RAID5, RAID6]
BACKENDS = ["memory", "files"]

MAX_OFFSET = 5 * RAID6.k * CHUNK  # a few stripes of the widest scheme
MAX_LENGTH = 4 * RAID6.k * CHUNK

examples = settings(max_examples=50, deadline=None)


def everything(scheme: Scheme) -> frozenset[int]:
    """All component indices of a scheme."""
    return frozenset(range(scheme.component_count))


def payload(seed: int, length: int) -> bytes:
    """Deterministic pseudo-random bytes (cheaper for Hypothesis than st.binary)."""
    return random.Random(seed).randbytes(length)


def new_store(backend: str, tmp_path_factory: pytest.TempPathFactory) -> VolumeStore:
    """A fresh store per Hypothesis example: in memory or in a new directory."""
    if backend == "memory":
        return VolumeStore(None)
    return VolumeStore(tmp_path_factory.mktemp("volumes"))


def smallest_set_reading_from(scheme: Scheme, index: int) -> frozenset[int]:
    """The fewest components, including ``index``, that keep ``scheme`` accessible.

    For a mirror the set holds no other replica, so a read must come from ``index``.
    """
    others = sorted(everything(scheme) - {index})
    if scheme.kind == "mirror":
        others = [i for i in others if i not in scheme.data_components]
    for size in range(len(others) + 1):
        for chosen in itertools.combinations(others, size):
            candidate = frozenset({index, *chosen})
            if scheme.is_accessible(candidate):
                return candidate
    raise AssertionError(f"no accessible set contains component {index} of {scheme}")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> VolumeStore:
    """A store in memory and one on disk under tmp_path."""
    return VolumeStore(None if request.param == "memory" else tmp_path)


schemes = st.sampled_from(SCHEMES)
offsets = st.integers(0, MAX_OFFSET)
lengths = st.integers(0, MAX_LENGTH)
seeds = st.integers(0, 2**32)
write_args = st.tuples(offsets, lengths, seeds)


@st.composite
def scheme_and_tolerated_losses(draw: st.DrawFn) -> tuple[Scheme, frozenset[int]]:
    """A scheme and a set of lost components no larger than its FTT."""
    scheme = draw(schemes)
    lost = draw(st.sets(st.integers(0, scheme.component_count - 1), max_size=scheme.tolerates()))
    return scheme, frozenset(lost)


@st.composite
def scheme_and_one_loss_too_many(draw: st.DrawFn) -> tuple[Scheme, frozenset[int]]:
    """A scheme and a set of lost components one larger than its FTT."""
    scheme = draw(schemes)
    size = scheme.tolerates() + 1
    lost = draw(st.sets(st.integers(0, scheme.component_count - 1), min_size=size, max_size=size))
    return scheme, frozenset(lost)


@st.composite
def any_scheme(draw: st.DrawFn) -> Scheme:
    """Any valid scheme, small enough to check every subset of components."""
    kind = draw(st.sampled_from(["mirror", "erasure", "single"]))
    if kind == "mirror":
        return Scheme(
            kind="mirror", replicas=draw(st.integers(1, 4)), witnesses=draw(st.integers(0, 3))
        )
    if kind == "erasure":
        return Scheme(kind="erasure", k=draw(st.integers(1, 5)), m=draw(st.integers(0, 3)))
    return Scheme(kind="single")


# -- Scheme --------------------------------------------------------------------------------------


def test_schemes_match_the_vsan_policy_table() -> None:
    """RAID-1 2+1, RAID-5 3+1, RAID-6 4+2 and single have vSAN's components, FTT and raw use."""
    assert (RAID1.component_count, RAID1.data_components) == (3, frozenset({0, 1}))
    assert (RAID5.component_count, RAID5.data_components) == (4, frozenset(range(4)))
    assert (RAID6.component_count, RAID6.data_components) == (6, frozenset(range(6)))
    assert (SINGLE.component_count, SINGLE.data_components) == (1, frozenset({0}))
    assert [s.tolerates() for s in SCHEMES] == [1, 1, 2, 0]
    assert [round(s.raw_factor, 2) for s in SCHEMES] == [2.0, 1.33, 1.5, 1.0]


@examples
@given(scheme=any_scheme())
def test_tolerates_is_the_largest_loss_every_combination_of_components_survives(
    scheme: Scheme,
) -> None:
    """tolerates() equals the largest f such that losing any f components stays accessible."""
    every = everything(scheme)

    def survives_any(f: int) -> bool:
        return all(
            scheme.is_accessible(every - set(lost))
            for lost in itertools.combinations(sorted(every), f)
        )

    ftt = scheme.tolerates()
    assert survives_any(ftt)
    assert not survives_any(ftt + 1)


def test_mirror_loses_access_when_replica_one_and_the_witness_fail_though_replica_zero_holds_data(
    store: VolumeStore,
) -> None:
    """The vote rule: RAID-1 2+1 with only replica 0 left has 1 of 3 votes and is inaccessible."""
    store.write("vol", RAID1, 0, b"precious", everything(RAID1))
    store.destroy_component("vol", 1)
    assert RAID1.can_reconstruct({0})
    assert not RAID1.is_accessible({0})
    with pytest.raises(DataUnavailable, match="1 of 3 component votes"):
        store.read("vol", RAID1, 0, 8, {0})


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "mirror", "replicas": 0},
        {"kind": "mirror", "replicas": 2, "witnesses": -1},
        {"kind": "erasure", "k": 0, "m": 1},
        {"kind": "erasure", "k": 3, "m": 1, "replicas": 2},
        {"kind": "erasure", "k": 200, "m": 100},
        {"kind": "single", "m": 1},
    ],
    ids=[
        "no-replica",
        "negative-witnesses",
        "no-data-shard",
        "mixed-kinds",
        "too-wide",
        "single-m",
    ],
)
def test_scheme_rejects_fields_of_another_kind_and_impossible_counts(
    fields: dict[str, Any],
) -> None:
    """A scheme with fields of another kind or impossible counts is refused."""
    with pytest.raises(ValueError, match="invalid storage scheme"):
        Scheme(**fields)


# -- Round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(scheme=schemes, write=write_args)
def test_write_then_read_returns_the_same_bytes_at_any_offset_and_length(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    scheme: Scheme,
    write: tuple[int, int, int],
) -> None:
    """What was written at any offset reads back byte for byte, and nothing is missed."""
    offset, length, seed = write
    store = new_store(backend, tmp_path_factory)
    data = payload(seed, length)
    assert store.write("vol", scheme, offset, data, everything(scheme)) == frozenset()
    assert store.read("vol", scheme, offset, length, everything(scheme)) == data


@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(
    scheme=schemes,
    writes=st.lists(write_args, min_size=1, max_size=6),
    reads=st.lists(st.tuples(offsets, lengths), max_size=4),
)
def test_overlapping_writes_read_back_like_a_bytearray(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    scheme: Scheme,
    writes: list[tuple[int, int, int]],
    reads: list[tuple[int, int]],
) -> None:
    """A sequence of overlapping writes leaves the same bytes as a plain bytearray would."""
    store = new_store(backend, tmp_path_factory)
    model = bytearray(MAX_OFFSET + MAX_LENGTH + CHUNK)
    for offset, length, seed in writes:
        data = payload(seed, length)
        store.write("vol", scheme, offset, data, everything(scheme))
        model[offset : offset + length] = data
    assert store.read("vol", scheme, 0, len(model), everything(scheme)) == model
    for offset, length in reads:
        expected = bytes(model[offset : offset + length])
        assert store.read("vol", scheme, offset, length, everything(scheme)) == expected


def test_large_raid6_write_across_many_stripes_reads_back_with_two_shards_lost(
    store: VolumeStore,
) -> None:
    """A write of over 1 MiB at an odd offset spans many stripes and survives two lost shards."""
    data = payload(7, (1 << 20) + 12_345)
    offset = 3 * CHUNK + 17
    store.write("vol", RAID6, offset, data, everything(RAID6))
    store.destroy_component("vol", 0)
    store.destroy_component("vol", 3)
    assert store.read("vol", RAID6, offset, len(data), {1, 2, 4, 5}) == data


def test_mirror_write_of_a_mebibyte_is_fast(store: VolumeStore) -> None:
    """A 1 MiB mirror write and read take well under a second (no per-byte Python)."""
    data = payload(3, 1 << 20)
    started = time.perf_counter()
    store.write("vol", RAID1, 5, data, everything(RAID1))
    assert store.read("vol", RAID1, 5, len(data), {1, 2}) == data
    assert time.perf_counter() - started < 1.0


# -- Failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(case=scheme_and_tolerated_losses(), write=write_args)
def test_volume_returns_every_byte_after_losing_any_components_its_policy_tolerates(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[Scheme, frozenset[int]],
    write: tuple[int, int, int],
) -> None:
    """Destroying up to FTT components of any kind leaves every byte readable."""
    scheme, lost = case
    offset, length, seed = write
    store = new_store(backend, tmp_path_factory)
    data = payload(seed, length)
    store.write("vol", scheme, offset, data, everything(scheme))
    for index in lost:
        store.destroy_component("vol", index)
    survivors = everything(scheme) - lost
    assert scheme.is_accessible(survivors)
    assert store.read("vol", scheme, offset, length, survivors) == data


@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(case=scheme_and_one_loss_too_many(), write=write_args)
def test_volume_becomes_unavailable_after_one_more_loss_than_its_policy_tolerates(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[Scheme, frozenset[int]],
    write: tuple[int, int, int],
) -> None:
    """Losing FTT + 1 components makes the volume inaccessible for reads and writes."""
    scheme, lost = case
    offset, length, seed = write
    store = new_store(backend, tmp_path_factory)
    store.write("vol", scheme, offset, payload(seed, length), everything(scheme))
    for index in lost:
        store.destroy_component("vol", index)
    survivors = everything(scheme) - lost
    assert not scheme.is_accessible(survivors)
    with pytest.raises(DataUnavailable):
        store.read("vol", scheme, offset, length, survivors)
    with pytest.raises(DataUnavailable):
        store.write("vol", scheme, offset, b"x", survivors)


def test_raid5_volume_returns_every_byte_after_losing_any_one_shard(store: VolumeStore) -> None:
    """RAID-5 (3+1) reads every byte back with any single shard destroyed."""
    data = payload(11, 5 * RAID5.k * CHUNK + 99)
    for lost in range(RAID5.component_count):
        volume = f"vol-{lost}"
        store.write(volume, RAID5, 1, data, everything(RAID5))
        store.destroy_component(volume, lost)
        assert store.read(volume, RAID5, 1, len(data), everything(RAID5) - {lost}) == data


def test_raid6_volume_returns_every_byte_after_losing_any_two_shards(store: VolumeStore) -> None:
    """RAID-6 (4+2) reads every byte back with any two shards destroyed."""
    data = payload(12, 3 * RAID6.k * CHUNK + 5)
    for pair in itertools.combinations(range(RAID6.component_count), 2):
        volume = "vol-{}-{}".format(*pair)
        store.write(volume, RAID6, 0, data, everything(RAID6))
        for lost in pair:
            store.destroy_component(volume, lost)
        assert store.read(volume, RAID6, 0, len(data), everything(RAID6) - set(pair)) == data


def test_mirror_reads_replica_one_when_replica_zero_is_lost(store: VolumeStore) -> None:
    """RAID-1 2+1 with replica 0 gone serves reads from replica 1 (plus the witness vote)."""
    store.write("vol", RAID1, 100, b"mirrored", everything(RAID1))
    store.destroy_component("vol", 0)
    assert store.read("vol", RAID1, 100, 8, {1, 2}) == b"mirrored"


def test_write_to_an_inaccessible_volume_raises_and_changes_nothing(store: VolumeStore) -> None:
    """A refused write stores no byte on the components that were still available."""
    store.write("vol", RAID5, 0, b"a" * 100, everything(RAID5))
    with pytest.raises(DataUnavailable):
        store.write("vol", RAID5, 0, b"b" * 100, {0, 1})
    assert store.read("vol", RAID5, 0, 100, everything(RAID5)) == b"a" * 100


def test_single_component_volume_cannot_be_read_or_written_without_its_component(
    store: VolumeStore,
) -> None:
    """vsan-sna / vsan-direct keep one copy: without component 0 nothing can be done."""
    store.write("vol", SINGLE, 0, b"only copy", {0})
    with pytest.raises(DataUnavailable, match="only component"):
        store.read("vol", SINGLE, 0, 9, set())
    with pytest.raises(DataUnavailable):
        store.write("vol", SINGLE, 0, b"x", set())
    with pytest.raises(DataUnavailable):
        store.rebuild_component("vol", SINGLE, 0, set(), extent=9)


def test_data_unavailable_names_the_volume_range_and_components_and_says_what_to_do(
    store: VolumeStore,
) -> None:
    """The error carries structured fields and a message a human can act on."""
    with pytest.raises(DataUnavailable) as caught:
        store.read("orders", RAID5, 10, 20, {0, 3})
    error = caught.value
    assert isinstance(error, ContractDataUnavailable)
    assert isinstance(error, OSError)
    assert (error.volume_id, error.operation, error.offset, error.length) == (
        "orders",
        "read",
        10,
        20,
    )
    assert error.available == (0, 3)
    message = str(error)
    for fragment in ("'orders'", "[10, 30)", "only 2 of the 3 shards", "unavailable: [1, 2]"):
        assert fragment in message
    assert "Bring back" in message
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.available) == (message, error.available)


# -- Missed writes, resync and rebuild -----------------------------------------------------------


@st.composite
def scheme_and_missing_component(draw: st.DrawFn) -> tuple[Scheme, int]:
    """A redundant scheme and one of its data components."""
    scheme = draw(st.sampled_from(REDUNDANT))
    return scheme, draw(st.sampled_from(sorted(scheme.data_components)))


@pytest.mark.parametrize("backend", BACKENDS)
@examples
@given(
    case=scheme_and_missing_component(),
    first=write_args,
    second=write_args,
)
def test_writes_while_a_component_is_unavailable_report_it_missed_and_rebuild_brings_it_back(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[Scheme, int],
    first: tuple[int, int, int],
    second: tuple[int, int, int],
) -> None:
    """A component that missed a write is returned as missed, then resynced to the right bytes."""
    scheme, index = case
    store = new_store(backend, tmp_path_factory)
    model = bytearray(MAX_OFFSET + MAX_LENGTH)
    for (offset, length, seed), available in (
        (first, everything(scheme)),
        (second, everything(scheme) - {index}),
    ):
        data = payload(seed, length)
        missed = store.write("vol", scheme, offset, data, available)
        assert missed == (frozenset(everything(scheme) - available) if data else frozenset())
        model[offset : offset + length] = data
    store.rebuild_component("vol", scheme, index, everything(scheme) - {index}, len(model))
    minimal = smallest_set_reading_from(scheme, index)
    assert store.read("vol", scheme, 0, len(model), minimal) == model


@pytest.mark.parametrize("scheme", REDUNDANT, ids=["raid1", "raid5", "raid6"])
def test_rebuild_after_disk_replacement_recreates_every_destroyed_component(
    store: VolumeStore, scheme: Scheme
) -> None:
    """Each data component, destroyed and rebuilt from the others, serves reads on its own."""
    data = payload(21, 7 * scheme.k * CHUNK + 321)
    store.write("vol", scheme, 1000, data, everything(scheme))
    extent = 1000 + len(data)
    for index in sorted(scheme.data_components):
        store.destroy_component("vol", index)
        store.rebuild_component("vol", scheme, index, everything(scheme) - {index}, extent)
        minimal = smallest_set_reading_from(scheme, index)
        assert store.read("vol", scheme, 1000, len(data), minimal) == data


def test_stale_replica_serves_old_bytes_until_it_is_resynced(store: VolumeStore) -> None:
    """Resync is what makes a stale replica current again, zeros written while away included."""
    store.write("vol", RAID1, 0, b"old!" * 3000, everything(RAID1))
    assert store.write("vol", RAID1, 0, bytes(8192), {0, 2}) == {1}
    assert store.read("vol", RAID1, 0, 4, {1, 2}) == b"old!"
    store.rebuild_component("vol", RAID1, 1, {0, 2}, extent=12_000)
    assert store.read("vol", RAID1, 0, 12_000, {1, 2}) == bytes(8192) + (b"old!" * 3000)[8192:]


def test_resync_clears_stale_bytes_where_the_source_replica_is_a_sparse_hole(
    store: VolumeStore,
) -> None:
    """A resync also visits regions only the stale component stores, so old bytes cannot linger."""
    three_way = Scheme(kind="mirror", replicas=3, witnesses=2)
    every = everything(three_way)
    store.write("vol", three_way, 0, b"old" * 1000, every)
    assert store.write("vol", three_way, 0, bytes(3000), {0, 1, 3, 4}) == {2}
    store.destroy_component("vol", 0)
    store.rebuild_component("vol", three_way, 0, {1, 3, 4}, extent=3000)  # zeros stay a hole
    store.destroy_component("vol", 1)
    store.rebuild_component("vol", three_way, 2, {0, 3, 4}, extent=3000)
    assert store.read("vol", three_way, 0, 3000, {2, 3, 4}) == bytes(3000)


def test_rebuild_raises_data_unavailable_when_the_others_cannot_reconstruct_the_component(
    store: VolumeStore,
) -> None:
    """RAID-5 with two shards gone cannot rebuild either of them."""
    store.write("vol", RAID5, 0, b"abc" * 5000, everything(RAID5))
    with pytest.raises(DataUnavailable, match="rebuild component 1") as caught:
        store.rebuild_component("vol", RAID5, 1, {0, 3}, extent=15_000)
    assert caught.value.component == 1


def test_rebuild_of_a_witness_is_a_no_op(store: VolumeStore) -> None:
    """Witnesses hold no bytes, so rebuilding one stores nothing."""
    store.rebuild_component("vol", RAID1, 2, {0, 1}, extent=1 << 30)
    assert store.volume_ids() == set()


def test_rebuild_refuses_to_use_the_component_it_rebuilds(store: VolumeStore) -> None:
    """Listing the rebuilt component among the sources is a programming error."""
    with pytest.raises(ValueError, match="itself"):
        store.rebuild_component("vol", RAID5, 1, everything(RAID5), extent=10)


def test_rebuild_over_a_nominal_terabyte_visits_only_stored_regions(store: VolumeStore) -> None:
    """A sparse volume rebuilds quickly even when the extent is its nominal size."""
    far = 5 << 30
    store.write("vol", RAID6, far, b"end", everything(RAID6))
    store.write("vol", RAID6, 0, b"start", everything(RAID6))
    store.destroy_component("vol", 2)
    started = time.perf_counter()
    store.rebuild_component("vol", RAID6, 2, everything(RAID6) - {2}, extent=1 << 40)
    assert time.perf_counter() - started < 2.0
    assert store.bytes_stored("vol") < 1 << 20  # the rebuilt shard stayed sparse too
    only_new_and_minimum = frozenset({2, 3, 4, 5})
    assert store.read("vol", RAID6, far, 3, only_new_and_minimum) == b"end"
    assert store.read("vol", RAID6, 0, 5, only_new_and_minimum) == b"start"


# -- Sparse storage, deletion, inventory ---------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES, ids=["raid1", "raid5", "raid6", "single"])
def test_unwritten_regions_read_as_zeros(store: VolumeStore, scheme: Scheme) -> None:
    """Never-written volumes and the gaps between writes read as zeros."""
    every = everything(scheme)
    assert store.read("fresh", scheme, 12_345, 100_000, every) == bytes(100_000)
    store.write("vol", scheme, 50_000, b"\xff" * 10, every)
    assert store.read("vol", scheme, 0, 50_000, every) == bytes(50_000)
    assert store.read("vol", scheme, 50_010, 70_000, every) == bytes(70_000)


def test_a_component_whose_file_is_gone_reads_as_zeros_if_still_called_available(
    store: VolumeStore,
) -> None:
    """The store trusts `available`: a destroyed replica listed there reads as zeros."""
    store.write("vol", RAID1, 0, b"data", everything(RAID1))
    store.destroy_component("vol", 0)
    assert store.read("vol", RAID1, 0, 4, {0, 2}) == bytes(4)


def test_a_write_far_into_a_volume_stores_only_a_few_blocks(store: VolumeStore) -> None:
    """Volumes are sparse: writing at 10 GiB does not allocate 10 GiB."""
    every = everything(RAID1)
    store.write("vol", RAID1, 10 << 30, b"tail", every)
    assert store.read("vol", RAID1, 10 << 30, 4, every) == b"tail"
    assert 0 < store.bytes_stored("vol") < 1 << 20


def test_bytes_stored_counts_every_replica_and_drops_to_zero_on_delete(store: VolumeStore) -> None:
    """A 1 MiB mirror write stores at least 2 MiB; deleting the volume frees it all."""
    store.write("vol", RAID1, 0, payload(1, 1 << 20), everything(RAID1))
    assert store.bytes_stored("vol") >= 2 << 20
    store.delete_volume("vol")
    assert store.bytes_stored("vol") == 0


def test_delete_volume_is_idempotent(store: VolumeStore) -> None:
    """Deleting twice, or deleting a volume that never existed, is fine."""
    store.write("vol", RAID5, 0, b"bytes", everything(RAID5))
    store.delete_volume("vol")
    store.delete_volume("vol")
    store.delete_volume("never-existed")
    assert store.volume_ids() == set()
    assert store.read("vol", RAID5, 0, 5, everything(RAID5)) == bytes(5)


def test_volume_ids_lists_exactly_the_volumes_with_stored_components(store: VolumeStore) -> None:
    """A volume is listed while any component holds bytes, and not after."""
    assert store.volume_ids() == set()
    store.write("a", RAID1, 0, b"1", everything(RAID1))
    store.write("b", SINGLE, 0, b"2", {0})
    assert store.write("c", RAID5, 0, b"", everything(RAID5)) == frozenset()
    assert store.volume_ids() == {"a", "b"}
    store.destroy_component("a", 0)
    assert store.volume_ids() == {"a", "b"}
    store.destroy_component("a", 1)
    assert store.volume_ids() == {"b"}
    store.delete_volume("b")
    assert store.volume_ids() == set()


def test_volume_ids_also_lists_a_volume_directory_without_components(
    tmp_path: pathlib.Path,
) -> None:
    """An empty or component-less directory is listed (for orphan cleanup) and deleted."""
    store = VolumeStore(tmp_path)
    store.write("kept", SINGLE, 0, b"1", {0})
    (tmp_path / "empty").mkdir()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "notes.txt").write_text("not a component")
    assert store.volume_ids() == {"kept", "empty", "odd"}
    store.delete_volume("empty")
    store.delete_volume("odd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_zero_length_reads_and_writes_return_nothing(store: VolumeStore) -> None:
    """Length 0 is valid: a read returns b"" and a write misses nothing."""
    assert store.read("vol", RAID6, 123, 0, everything(RAID6)) == b""
    assert store.write("vol", RAID6, 123, b"", {0, 1, 2, 3}) == frozenset()


def test_components_are_sparse_files_named_by_index_under_the_volume_directory(
    tmp_path: pathlib.Path,
) -> None:
    """On disk, component i of volume v is root/v/i.bin, holding its shard's bytes."""
    store = VolumeStore(tmp_path)
    store.write("vol", RAID5, 0, b"A" * CHUNK + b"B" * CHUNK + b"C" * CHUNK, everything(RAID5))
    names = sorted(p.name for p in (tmp_path / "vol").iterdir())
    assert names == ["0.bin", "1.bin", "2.bin", "3.bin"]
    assert (tmp_path / "vol" / "1.bin").read_bytes() == b"B" * CHUNK
    store.write("vol", RAID5, 0, b"a", everything(RAID5))
    assert (tmp_path / "vol" / "0.bin").read_bytes() == b"a" + b"A" * (CHUNK - 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.read("vol", RAID1, -1, 1, {0, 1, 2}),
        lambda s: s.read("vol", RAID1, 0, -1, {0, 1, 2}),
        lambda s: s.write("vol", RAID1, 0, b"x", {0, 1, 7}),
        lambda s: s.write("../escape", RAID1, 0, b"x", {0, 1, 2}),
        lambda s: s.delete_volume(""),
        lambda s: s.rebuild_component("vol", RAID5, 9, {0, 1, 2}, extent=10),
    ],
    ids=[
        "negative-offset",
        "negative-length",
        "unknown-component",
        "path-escape",
        "empty-id",
        "bad-index",
    ],
)
def test_invalid_arguments_raise_value_error(store: VolumeStore, call: object) -> None:
    """Negative ranges, unknown components and unsafe volume ids are refused."""
    assert callable(call)
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        call(store)


# -- Concurrency ---------------------------------------------------------------------------------


def test_concurrent_writers_to_the_same_stripes_lose_no_update(store: VolumeStore) -> None:
    """Threads writing interleaved slices of the same RAID-5 stripes all land (per-volume lock)."""
    slice_size, threads, rounds = 300, 8, 10
    every = everything(RAID5)

    def writer(number: int) -> None:
        for round_ in range(rounds):
            offset = (round_ * threads + number) * slice_size
            store.write("vol", RAID5, offset, bytes([number + 1]) * slice_size, every)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    expected = b"".join(bytes([n + 1]) * slice_size for _ in range(rounds) for n in range(threads))
    assert store.read("vol", RAID5, 0, len(expected), every) == expected
    assert store.read("vol", RAID5, 0, len(expected), {1, 2, 3}) == expected


def test_concurrent_writers_on_different_volumes_keep_their_own_bytes(store: VolumeStore) -> None:
    """Each thread's volume holds exactly what that thread wrote."""
    every = everything(RAID6)
    datas = {f"vol-{n}": payload(n, 40_000 + n) for n in range(6)}

    def writer(volume: str) -> None:
        store.write(volume, RAID6, 7, datas[volume], every)

    workers = [threading.Thread(target=writer, args=(v,)) for v in datas]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for volume, data in datas.items():
        assert store.read(volume, RAID6, 7, len(data), {2, 3, 4, 5}) == data
