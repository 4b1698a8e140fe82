"""Cluster configuration: defaults, the INI format, every problem at once, and round trips."""

from __future__ import annotations

import pathlib
import pickle
import textwrap

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpp_sdk.platform._config import (
    MAX_REPAIR_TIMER,
    ClusterConfig,
    ConfigError,
    ConfigProblem,
    HostSpec,
    capacity_disk_name,
    direct_disk_name,
    host_name,
)
from dpp_sdk.platform._config_ini import load_config, parse_config
from dpp_sdk.platform._policies import ARCHITECTURES, POLICIES

SEED_EXAMPLE = """\
[vsan-datapersistence]
enabled = true
default_policy = vsan-default
max_services = 100
resource_quota = 80          ; percent of raw capacity that service instances may reserve (1..100)

[cluster]
hosts = 4                    ; hosts named esx-01, esx-02, ...
capacity_disks_per_host = 2
capacity_disk_gb = 2000
direct_disks_per_host = 4
direct_disk_gb = 1000
capacity_warning_percent = 80 ; capacity warning threshold on the pool

[host esx-03]                ; optional per-host overrides
fault_domain = rack-b
capacity_disks = 2000, 2000, 4000   ; explicit sizes in GB
direct_disks = 1000
"""


def problems_of(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def locations_of(text: str) -> list[str]:
    return [problem.location for problem in problems_of(text)]


# -- defaults and the format -------------------------------------------------------------------


def test_the_default_cluster_needs_no_file() -> None:
    """ClusterConfig.default() is 4 hosts of 2 x 2000 GB + 4 x 1000 GB, one fault domain each."""
    config = ClusterConfig.default()
    assert (config.enabled, config.default_policy, config.max_services) == (
        True,
        "vsan-default",
        100,
    )
    assert (config.resource_quota, config.capacity_warning_percent) == (80, 80)
    assert [spec.name for spec in config.hosts] == ["esx-01", "esx-02", "esx-03", "esx-04"]
    for spec in config.hosts:
        assert spec.fault_domain == spec.name
        assert spec.capacity_disks == (2000.0, 2000.0)
        assert spec.direct_disks == (1000.0,) * 4


def test_an_empty_file_gives_the_default_cluster() -> None:
    """Every key is optional: an empty text (or only comments) parses to the defaults."""
    assert parse_config("") == ClusterConfig.default()
    assert parse_config("; nothing here\n# nor here\n") == ClusterConfig.default()


def test_the_seed_example_parses_with_its_per_host_overrides() -> None:
    """The documented example (inline comments included) gives esx-03 its own rack and disks."""
    config = parse_config(SEED_EXAMPLE)
    esx03 = config.host("esx-03")
    assert esx03 == HostSpec(
        name="esx-03",
        fault_domain="rack-b",
        capacity_disks=(2000.0, 2000.0, 4000.0),
        direct_disks=(1000.0,),
    )
    assert config.host("esx-02").fault_domain == "esx-02"
    assert config.host("esx-04").capacity_disks == (2000.0, 2000.0)


def test_hosts_are_named_with_two_digits_and_more_from_one_hundred() -> None:
    """Host names run esx-01 ... esx-99, esx-100; disks are cap-N and direct-N."""
    assert [host_name(n) for n in (1, 9, 10, 99, 100, 101)] == [
        "esx-01",
        "esx-09",
        "esx-10",
        "esx-99",
        "esx-100",
        "esx-101",
    ]
    assert (capacity_disk_name(0), direct_disk_name(3)) == ("cap-0", "direct-3")


def test_a_cluster_section_sets_every_host() -> None:
    """[cluster] keys shape every host; an empty disk list removes a host's direct disks."""
    config = parse_config(
        textwrap.dedent("""\
            [cluster]
            hosts = 6
            capacity_disks_per_host = 3
            capacity_disk_gb = 1500.5
            direct_disks_per_host = 0

            [host esx-06]
            direct_disks =
            capacity_disks =
            """)
    )
    assert len(config.hosts) == 6
    assert config.host("esx-01").capacity_disks == (1500.5,) * 3
    assert config.host("esx-01").direct_disks == ()
    assert config.host("esx-06").capacity_disks == ()


@pytest.mark.parametrize(("raw", "value"), [("yes", True), ("off", False), ("0", False)])
def test_enabled_accepts_the_usual_boolean_spellings(raw: str, value: bool) -> None:
    """enabled takes true/false, yes/no, on/off and 1/0 like configparser does."""
    assert parse_config(f"[vsan-datapersistence]\nenabled = {raw}\n").enabled is value


def test_load_config_reads_a_file(tmp_path: pathlib.Path) -> None:
    """load_config reads an INI file from disk."""
    path = tmp_path / "cluster.ini"
    path.write_text(SEED_EXAMPLE, encoding="utf-8")
    assert load_config(path) == parse_config(SEED_EXAMPLE)


def test_load_config_names_the_file_in_its_error(tmp_path: pathlib.Path) -> None:
    """A problem found in a file is reported with the file's path."""
    path = tmp_path / "bad.ini"
    path.write_text("[cluster]\nhosts = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)


INTEGER_KEYS = [
    ("vsan-datapersistence", "max_services"),
    ("vsan-datapersistence", "resource_quota"),
    ("cluster", "hosts"),
    ("cluster", "capacity_disks_per_host"),
    ("cluster", "direct_disks_per_host"),
    ("cluster", "capacity_warning_percent"),
]
SIZE_KEYS = [
    ("cluster", "capacity_disk_gb"),
    ("cluster", "direct_disk_gb"),
    ("host esx-01", "capacity_disks"),
    ("host esx-01", "direct_disks"),
]
# Ten as Python's int() and float() also read it: with an underscore, in Arabic-Indic digits,
# in full-width digits.
NOT_DECIMAL = ["1_0", "\u0661\u0660", "\uff11\uff10"]


@pytest.mark.parametrize("raw", NOT_DECIMAL)
@pytest.mark.parametrize(("section", "key"), INTEGER_KEYS + SIZE_KEYS)
def test_integers_and_sizes_accept_only_ascii_decimal_digits(
    section: str, key: str, raw: str
) -> None:
    """1_0 and non-ASCII digits are a problem naming the section, the key and the value."""
    (problem,) = problems_of(f"[{section}]\n{key} = {raw}\n")
    assert problem.location == f"[{section}] {key}"
    assert problem.value == raw


def test_a_config_file_that_is_not_utf8_names_the_file_line_and_byte_offset(
    tmp_path: pathlib.Path,
) -> None:
    """A Latin-1 byte is a ConfigError (not a UnicodeDecodeError) saying where it is."""
    path = tmp_path / "latin1.ini"
    path.write_bytes(b"[cluster]\nhosts = 3\n# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    (problem,) = caught.value.problems
    assert problem.location == "line 3"
    assert "byte 0xe9 at offset 25" in problem.message
    assert str(path) in str(caught.value)


def test_a_utf8_config_file_with_a_byte_order_mark_is_read(tmp_path: pathlib.Path) -> None:
    """The BOM some editors write is not part of the first section header."""
    path = tmp_path / "bom.ini"
    path.write_bytes(b"\xef\xbb\xbf[cluster]\nhosts = 3\n")
    assert len(load_config(path).hosts) == 3


# -- every problem at once ---------------------------------------------------------------------

# Independent problems: (section header, line, location reported). None line: the section alone.
CATALOGUE = [
    ("[vsan-datapersistence]", "enabled = maybe", "[vsan-datapersistence] enabled"),
    ("[vsan-datapersistence]", "default_policy = gold", "[vsan-datapersistence] default_policy"),
    ("[vsan-datapersistence]", "max_services = many", "[vsan-datapersistence] max_services"),
    ("[vsan-datapersistence]", "resource_quota = 0", "[vsan-datapersistence] resource_quota"),
    ("[vsan-datapersistence]", "colour = blue", "[vsan-datapersistence] colour"),
    ("[cluster]", "capacity_disks_per_host = 100", "[cluster] capacity_disks_per_host"),
    ("[cluster]", "capacity_disk_gb = -5", "[cluster] capacity_disk_gb"),
    ("[cluster]", "direct_disks_per_host = x", "[cluster] direct_disks_per_host"),
    ("[cluster]", "direct_disk_gb = big", "[cluster] direct_disk_gb"),
    ("[cluster]", "capacity_warning_percent = 101", "[cluster] capacity_warning_percent"),
    ("[cluster]", "racks = 2", "[cluster] racks"),
    ("[cluster]", "architecture = vsan9", "[cluster] architecture"),
    ("[host esx-09]", None, "[host esx-09]"),
    ("[host esx-02]", "fault_domain = rack b", "[host esx-02] fault_domain"),
    ("[host esx-02]", "capacity_disks = 100, -2", "[host esx-02] capacity_disks"),
    ("[host esx-02]", "direct_disks = a, b", "[host esx-02] direct_disks"),
    ("[host esx-02]", "cache_disks = 400", "[host esx-02] cache_disks"),
    ("[racks]", None, "[racks]"),
    ("[DEFAULT]", None, "[DEFAULT]"),
]


def render(chosen: list[tuple[str, str | None, str]]) -> str:
    sections: dict[str, list[str]] = {}
    for header, line, _ in chosen:
        lines = sections.setdefault(header, [])
        if line is not None:
            lines.append(line)
    return "\n\n".join("\n".join([header, *lines]) for header, lines in sections.items()) + "\n"


@settings(max_examples=60, deadline=None)
@given(chosen=st.lists(st.sampled_from(CATALOGUE), min_size=1, unique=True))
def test_a_config_with_n_independent_problems_reports_all_n(
    chosen: list[tuple[str, str | None, str]],
) -> None:
    """Every problem is reported at once, each naming its section and key."""
    problems = problems_of(render(chosen))
    assert sorted(p.location for p in problems) == sorted(location for *_, location in chosen)


def test_each_problem_names_the_offending_value() -> None:
    """Problems carry the value as written and a message saying what is wrong."""
    problems = problems_of("[vsan-datapersistence]\nresource_quota = 150\ndefault_policy = gold\n")
    by_location = {p.location: p for p in problems}
    quota = by_location["[vsan-datapersistence] resource_quota"]
    assert (quota.value, quota.message) == ("150", "must be between 1 and 100")
    policy = by_location["[vsan-datapersistence] default_policy"]
    assert policy.value == "gold"
    assert "vsan-raid6" in policy.message


def test_the_error_message_shows_every_problem_one_per_line() -> None:
    """str(ConfigError) has a summary line then one line per problem, and it is a ValueError."""
    with pytest.raises(ConfigError) as caught:
        parse_config("[cluster]\nhosts = 0\ncapacity_disk_gb = -1\n[bogus]\n", source="my.ini")
    error = caught.value
    assert isinstance(error, ValueError)
    lines = str(error).splitlines()
    assert lines[0] == "3 problems in cluster configuration my.ini:"
    assert len(lines) == 4
    for problem in error.problems:
        assert f"  {problem}" in lines


def test_zero_hosts_is_a_problem() -> None:
    """A cluster needs at least one host."""
    problem = problems_of("[cluster]\nhosts = 0\n")[0]
    assert (problem.location, problem.value) == ("[cluster] hosts", "0")


def test_a_host_section_must_name_a_host_of_the_cluster() -> None:
    """[host esx-05] in a 4-host cluster is reported, listing the cluster's hosts."""
    problem = problems_of("[host esx-05]\nfault_domain = a\n")[0]
    assert problem.location == "[host esx-05]"
    assert "esx-01" in problem.message
    assert "esx-04" in problem.message


def test_a_host_section_is_checked_against_the_configured_host_count() -> None:
    """[host esx-05] is fine once [cluster] hosts is 5 or more."""
    config = parse_config("[cluster]\nhosts = 5\n[host esx-05]\nfault_domain = a\n")
    assert config.host("esx-05").fault_domain == "a"


def test_duplicates_and_bad_lines_are_reported_with_the_other_problems() -> None:
    """Syntax problems (duplicate section or key, unreadable line, key before any section)
    are listed with line numbers, and the rest of the file is still checked."""
    text = textwrap.dedent("""\
        stray = 1
        [cluster]
        hosts = 4
        hosts = 5
        this line is junk
        [cluster]
        [vsan-datapersistence]
        resource_quota = 0
        """)
    problems = problems_of(text)
    assert [(p.location, p.value) for p in problems] == [
        ("line 1", "stray = 1"),
        ("line 4", "hosts = 5"),
        ("line 6", "[cluster]"),
        ("line 5", "this line is junk"),
        ("[vsan-datapersistence] resource_quota", "0"),
    ]
    assert "duplicate key 'hosts'" in problems[1].message
    assert "duplicate section [cluster]" in problems[2].message


def test_a_config_built_in_code_is_checked_like_a_file() -> None:
    """Constructing an invalid ClusterConfig raises ConfigError listing every problem."""
    bad_host = HostSpec(name="db-1", fault_domain="rack a", capacity_disks=[-1.0])
    with pytest.raises(ConfigError) as caught:
        ClusterConfig(resource_quota=0, default_policy="gold", hosts=[bad_host])
    assert sorted(p.location for p in caught.value.problems) == [
        "[cluster] hosts",
        "[host db-1] capacity_disks",
        "[host db-1] fault_domain",
        "[vsan-datapersistence] default_policy",
        "[vsan-datapersistence] resource_quota",
    ]
    with pytest.raises(ConfigError):
        ClusterConfig(hosts=())


def test_config_error_survives_pickling() -> None:
    """ConfigError keeps its problems and source through pickle."""
    error = ConfigError([ConfigProblem(location="[x]", value="", message="m")], source="s")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, copy.source, str(copy)) == (error.problems, "s", str(error))


# -- round trips -------------------------------------------------------------------------------

sizes = st.one_of(
    st.integers(1, 100_000).map(float),
    st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False),
)
layouts = st.lists(sizes, max_size=5).map(tuple)
domain_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,12}\Z")


@st.composite
def configs(draw: st.DrawFn) -> ClusterConfig:
    """Valid configurations: uniform hosts, with some hosts overriding disks or fault domain."""
    count = draw(st.integers(1, 12))
    capacity = (draw(sizes),) * draw(st.integers(0, 4))
    direct = (draw(sizes),) * draw(st.integers(0, 4))
    hosts = []
    for number in range(1, count + 1):
        name = host_name(number)
        hosts.append(
            HostSpec(
                name=name,
                fault_domain=draw(st.just(name) | domain_names),
                capacity_disks=draw(st.just(capacity) | layouts),
                direct_disks=draw(st.just(direct) | layouts),
            )
        )
    return ClusterConfig(
        enabled=draw(st.booleans()),
        default_policy=draw(st.sampled_from(list(POLICIES))),
        max_services=draw(st.integers(1, 10_000)),
        resource_quota=draw(st.integers(1, 100)),
        capacity_warning_percent=draw(st.integers(1, 100)),
        object_repair_timer=draw(st.integers(0, MAX_REPAIR_TIMER)),
        architecture=draw(st.sampled_from(ARCHITECTURES)),
        hosts=hosts,
    )


@settings(max_examples=80, deadline=None)
@given(config=configs())
def test_to_ini_round_trips_through_parse_config(config: ClusterConfig) -> None:
    """parse_config(config.to_ini()) gives back exactly the same configuration."""
    assert parse_config(config.to_ini()) == config


def test_the_default_ini_is_short_and_readable() -> None:
    """The default configuration needs no [host] section and parses back to itself."""
    text = ClusterConfig.default().to_ini()
    assert "[host " not in text
    assert "hosts = 4" in text
    assert parse_config(text) == ClusterConfig.default()


def test_a_large_cluster_round_trips_with_three_digit_host_names() -> None:
    """Clusters of 100+ hosts name them esx-100, ... and still round-trip."""
    config = ClusterConfig.uniform(hosts=120, direct_disks_per_host=0)
    config = attrs.evolve(
        config,
        hosts=[
            attrs.evolve(spec, fault_domain="rack-z") if spec.name == "esx-110" else spec
            for spec in config.hosts
        ],
    )
    assert config.hosts[-1].name == "esx-120"
    text = config.to_ini()
    assert "[host esx-110]" in text
    assert parse_config(text) == config


def test_uniform_builds_identical_hosts() -> None:
    """ClusterConfig.uniform makes a cluster of identical hosts, one fault domain each."""
    config = ClusterConfig.uniform(hosts=6, capacity_disks_per_host=1, capacity_disk_gb=500)
    assert len(config.hosts) == 6
    assert {spec.capacity_disks for spec in config.hosts} == {(500.0,)}
    assert ClusterConfig.uniform() == ClusterConfig.default()


# -- architecture ------------------------------------------------------------------------------


def test_the_architecture_is_osa_unless_the_file_says_esa() -> None:
    """[cluster] architecture defaults to osa; esa is read as written and written back."""
    assert ClusterConfig.default().architecture == "osa"
    assert parse_config("").architecture == "osa"
    config = parse_config("[cluster]\narchitecture = esa\n")
    assert config.architecture == "esa"
    assert "architecture = esa" in config.to_ini()
    assert parse_config(config.to_ini()) == config


@pytest.mark.parametrize("raw", ["ESA", "express", "", "osa esa", "vsan8"])
def test_an_unknown_architecture_is_a_problem_naming_the_key_value_and_choices(raw: str) -> None:
    """Only osa and esa, exactly as written; the problem names the key, the value and both."""
    problem = problems_of(f"[cluster]\narchitecture = {raw}\n")[0]
    assert (problem.location, problem.value) == ("[cluster] architecture", raw)
    assert "valid architectures: osa, esa" in problem.message
    assert f"[cluster] architecture = {raw!r}" in str(problem)


def test_a_config_built_in_code_with_an_unknown_architecture_is_refused() -> None:
    """ClusterConfig(architecture=...) is checked like the file: ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"\[cluster\] architecture = 'vsan9'"):
        ClusterConfig(architecture="vsan9")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hosts", "domains", "k"), [(3, None, 2), (5, None, 2), (6, None, 4), (8, None, 4), (8, 4, 2)]
)
def test_an_esa_cluster_lays_raid5_out_by_its_fault_domains(
    hosts: int, domains: int | None, k: int
) -> None:
    """ClusterConfig.layout: RAID-5 under ESA is 2+1 below 6 fault domains, else 4+1; hosts
    sharing a fault domain count once; under OSA it is 3+1 whatever the size."""
    config = attrs.evolve(ClusterConfig.uniform(hosts=hosts), architecture="esa")
    if domains is not None:
        config = attrs.evolve(
            config,
            hosts=[
                attrs.evolve(spec, fault_domain=f"rack-{n % domains}")
                for n, spec in enumerate(config.hosts)
            ],
        )
    assert config.storage_fault_domains == (domains or hosts)
    assert config.layout("vsan-raid5").k == k
    assert attrs.evolve(config, architecture="osa").layout("vsan-raid5").k == 3


def test_a_fault_domain_without_capacity_disks_does_not_count_towards_the_cluster_size() -> None:
    """A host that holds no capacity disk cannot hold a component, so ESA's RAID-5 ignores it."""
    config = attrs.evolve(ClusterConfig.uniform(hosts=6), architecture="esa")
    config = attrs.evolve(
        config, hosts=[*config.hosts[:5], attrs.evolve(config.hosts[5], capacity_disks=())]
    )
    assert config.storage_fault_domains == 5
    assert config.layout("vsan-raid5").k == 2
