"""Cluster configuration of the mock platform: what hosts, disks and settings it simulates.

The configuration is an INI file read with :mod:`configparser`; every key is optional and a
default cluster needs no file at all::

    [vsan-datapersistence]
    enabled = true
    default_policy = vsan-default
    max_services = 100
    resource_quota = 80           ; percent of raw capacity service instances may reserve

    [cluster]
    hosts = 4                     ; named esx-01, esx-02, ... (esx-100 after esx-99)
    capacity_disks_per_host = 2
    capacity_disk_gb = 2000
    direct_disks_per_host = 4
    direct_disk_gb = 1000
    capacity_warning_percent = 80 ; capacity warning threshold on the pool
    architecture = osa            ; osa or esa (ESA: adaptive RAID-5, 2+1 or 4+1)

    [host esx-03]                 ; optional per-host overrides
    fault_domain = rack-b         ; default: one fault domain per host, named after it
    capacity_disks = 2000, 2000, 4000
    direct_disks = 1000

An invalid file raises :class:`ConfigError`, whose ``problems`` list every problem found, each
naming its section and key and the offending value. A :class:`ClusterConfig` built in code is
checked the same way, so every instance is valid and :meth:`ClusterConfig.to_ini` round-trips
through :func:`parse_config`.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Iterable, Sequence

import attrs

from dpp_sdk.platform._policies import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    DEFAULT_POLICY,
    POLICIES,
    Architecture,
    Policy,
)

__all__ = [
    "MAX_DISKS_PER_HOST",
    "MAX_HOSTS",
    "MAX_REPAIR_TIMER",
    "MAX_RESYNC_MBPS",
    "ClusterConfig",
    "ConfigError",
    "ConfigProblem",
    "HostSpec",
    "capacity_disk_name",
    "direct_disk_name",
    "host_name",
]

MAX_HOSTS = 1000
"""Upper bound on ``[cluster] hosts`` (a sanity limit against typos, not a vSAN figure)."""

MAX_DISKS_PER_HOST = 64
"""Upper bound on the number of capacity disks, and of direct disks, on one host."""

MAX_REPAIR_TIMER = 7 * 24 * 60
"""Upper bound on ``[cluster] object_repair_timer`` in minutes (a week)."""

MAX_RESYNC_MBPS = 1_000_000
"""Upper bound on ``[cluster] resync_mbps`` (a sanity limit: 1 TB/s)."""

_DEFAULT_HOSTS = 4
_DEFAULT_CAPACITY_DISKS = 2
_DEFAULT_CAPACITY_GB = 2000.0
_DEFAULT_DIRECT_DISKS = 4
_DEFAULT_DIRECT_GB = 1000.0

_PLATFORM = "vsan-datapersistence"
_CLUSTER = "cluster"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def host_name(number: int) -> str:
    """Name of the ``number``-th host (1-based): ``esx-01`` ... ``esx-99``, ``esx-100``, ..."""
    return f"esx-{number:02d}"


def capacity_disk_name(index: int) -> str:
    """Name of a host's ``index``-th capacity disk (0-based): ``cap-0``, ``cap-1``, ..."""
    return f"cap-{index}"


def direct_disk_name(index: int) -> str:
    """Name of a host's ``index``-th direct disk (0-based): ``direct-0``, ``direct-1``, ..."""
    return f"direct-{index}"


@attrs.frozen(kw_only=True)
class ConfigProblem:
    """One problem in a configuration: where, the offending value as written, and why.

    ``location`` is ``[section] key`` for a value, ``[section]`` for a whole section (``value``
    is then empty) or ``line N`` for a line the INI syntax cannot read (``value`` is the line).
    """

    location: str
    value: str
    message: str

    def __str__(self) -> str:
        if self.location.endswith("]"):  # a whole section
            return f"{self.location}: {self.message}"
        if self.location.startswith("line "):  # a line the INI syntax cannot read
            return f"{self.location}: {self.message}: {self.value!r}"
        return f"{self.location} = {self.value!r}: {self.message}"


class ConfigError(ValueError):
    """An invalid cluster configuration; ``problems`` lists every problem found.

    Syntax problems (``line N``) come first, then unknown sections, then values section by
    section.

    ``source`` names the file (or ``"<string>"``). ``str()`` shows every problem, one per line.
    """

    def __init__(self, problems: Sequence[ConfigProblem], source: str = "<string>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} in cluster configuration {source}:"]
        lines.extend(f"  {problem}" for problem in self.problems)
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[ConfigProblem], str]]:
        return (type(self), (self.problems, self.source))


def _sizes(value: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(size) for size in value)


@attrs.frozen(kw_only=True)
class HostSpec:
    """One configured host: its name, fault domain and disk sizes in GB.

    Disks are named by position: ``capacity_disks[i]`` is ``cap-i``, ``direct_disks[i]`` is
    ``direct-i``.
    """

    name: str
    fault_domain: str
    capacity_disks: tuple[float, ...] = attrs.field(converter=_sizes)
    direct_disks: tuple[float, ...] = attrs.field(default=(), converter=_sizes)


def _uniform_hosts(
    count: int, capacity: tuple[float, ...], direct: tuple[float, ...]
) -> tuple[HostSpec, ...]:
    return tuple(
        HostSpec(
            name=host_name(number),
            fault_domain=host_name(number),
            capacity_disks=capacity,
            direct_disks=direct,
        )
        for number in range(1, count + 1)
    )


def _default_hosts() -> tuple[HostSpec, ...]:
    return _uniform_hosts(
        _DEFAULT_HOSTS,
        (_DEFAULT_CAPACITY_GB,) * _DEFAULT_CAPACITY_DISKS,
        (_DEFAULT_DIRECT_GB,) * _DEFAULT_DIRECT_DISKS,
    )


def _host_tuple(value: Iterable[HostSpec]) -> tuple[HostSpec, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ClusterConfig:
    """The whole configuration: platform settings and the hosts with their disks.

    Construction checks every invariant that :func:`parse_config` checks and raises
    :class:`ConfigError` listing every violation, with locations given as in the INI file.
    """

    enabled: bool = True
    default_policy: str = DEFAULT_POLICY
    max_services: int = 100
    resource_quota: int = 80
    capacity_warning_percent: int = 80
    #: Minutes vSAN waits before rebuilding components made absent by a host failure or a
    #: host in maintenance without evacuation (``VSAN.ClomRepairDelay``); 0 rebuilds at once.
    object_repair_timer: int = 60
    #: MB/s at which one component is rebuilt, resynced or moved: a copy of N bytes keeps it
    #: ``active-stale`` (or its object in ``data-move``) for N / (resync_mbps * 10**6) s.
    resync_mbps: int = 100
    #: vSAN's storage architecture: ``osa`` or ``esa``, under which RAID-5 is adaptive (2+1 or
    #: 4+1 by cluster size, see :meth:`layout`).
    architecture: Architecture = DEFAULT_ARCHITECTURE
    hosts: tuple[HostSpec, ...] = attrs.field(factory=_default_hosts, converter=_host_tuple)

    def __attrs_post_init__(self) -> None:
        problems = _object_problems(self)
        if problems:
            raise ConfigError(problems, source="ClusterConfig(...)")

    @classmethod
    def default(cls) -> ClusterConfig:
        """The configuration used when there is no file: 4 hosts, 2 x 2000 GB + 4 x 1000 GB."""
        return cls()

    @classmethod
    def uniform(
        cls,
        *,
        hosts: int = _DEFAULT_HOSTS,
        capacity_disks_per_host: int = _DEFAULT_CAPACITY_DISKS,
        capacity_disk_gb: float = _DEFAULT_CAPACITY_GB,
        direct_disks_per_host: int = _DEFAULT_DIRECT_DISKS,
        direct_disk_gb: float = _DEFAULT_DIRECT_GB,
    ) -> ClusterConfig:
        """A cluster of identical hosts, one fault domain each, with default platform settings.

        Use :func:`attrs.evolve` on the result to change the platform settings.
        """
        return cls(
            hosts=_uniform_hosts(
                hosts,
                (float(capacity_disk_gb),) * capacity_disks_per_host,
                (float(direct_disk_gb),) * direct_disks_per_host,
            )
        )

    @property
    def storage_fault_domains(self) -> int:
        """How many fault domains have a host with capacity disks (can hold a component)."""
        return len({spec.fault_domain for spec in self.hosts if spec.capacity_disks})

    def layout(self, policy: str) -> Policy:
        """How a new volume of ``policy`` is laid out on this cluster (RAID-5 under ESA: 2+1
        on fewer than 6 :attr:`storage_fault_domains`, 4+1 from 6); ``KeyError`` for an
        unknown policy name."""
        return POLICIES[policy].for_cluster(
            architecture=self.architecture, fault_domains=self.storage_fault_domains
        )

    def host(self, name: str) -> HostSpec:
        """The host called ``name``; ``KeyError`` if there is none."""
        for spec in self.hosts:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_ini(self) -> str:
        """This configuration as INI text that :func:`parse_config` reads back unchanged.

        The ``[cluster]`` section gives the most common uniform disk layout; hosts that differ
        from it, or whose fault domain is not their own name, get a ``[host NAME]`` section.
        """
        capacity = _base_layout(spec.capacity_disks for spec in self.hosts)
        direct = _base_layout(spec.direct_disks for spec in self.hosts)
        lines = [
            "; dpp mock platform cluster configuration",
            f"[{_PLATFORM}]",
            f"enabled = {'true' if self.enabled else 'false'}",
            f"default_policy = {self.default_policy}",
            f"max_services = {self.max_services}",
            f"resource_quota = {self.resource_quota}",
            "",
            f"[{_CLUSTER}]",
            f"hosts = {len(self.hosts)}",
            f"capacity_disks_per_host = {len(capacity)}",
            f"capacity_disk_gb = {_format_size(capacity[0] if capacity else _DEFAULT_CAPACITY_GB)}",
            f"direct_disks_per_host = {len(direct)}",
            f"direct_disk_gb = {_format_size(direct[0] if direct else _DEFAULT_DIRECT_GB)}",
            f"capacity_warning_percent = {self.capacity_warning_percent}",
            f"object_repair_timer = {self.object_repair_timer}",
            f"resync_mbps = {self.resync_mbps}",
            f"architecture = {self.architecture}",
        ]
        for spec in self.hosts:
            overrides = []
            if spec.fault_domain != spec.name:
                overrides.append(f"fault_domain = {spec.fault_domain}")
            if spec.capacity_disks != capacity:
                overrides.append(f"capacity_disks = {_format_sizes(spec.capacity_disks)}")
            if spec.direct_disks != direct:
                overrides.append(f"direct_disks = {_format_sizes(spec.direct_disks)}")
            if overrides:
                lines.extend(["", f"[host {spec.name}]", *overrides])
        return "\n".join(lines) + "\n"


def _base_layout(layouts: Iterable[tuple[float, ...]]) -> tuple[float, ...]:
    """The most common layout that ``[cluster]`` can express (all disks the same size)."""
    counts = collections.Counter(
        layout for layout in layouts if len(set(layout)) <= 1 and len(layout) > 0
    )
    if not counts:
        return ()
    return counts.most_common(1)[0][0]


def _format_size(size: float) -> str:
    if size.is_integer() and abs(size) < 2**53:
        return str(int(size))
    return repr(size)


def _format_sizes(sizes: tuple[float, ...]) -> str:
    return ", ".join(_format_size(size) for size in sizes)


# -- checks shared by the parser and ClusterConfig ---------------------------------------------


def _range_problem(
    location: str, raw: str, value: int, minimum: int, maximum: int | None
) -> ConfigProblem | None:
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        return ConfigProblem(location=location, value=raw, message=f"must be {bound}")
    return None


def _size_problem(location: str, raw: str, sizes: Sequence[float]) -> ConfigProblem | None:
    bad = [size for size in sizes if not (math.isfinite(size) and size > 0)]
    if bad:
        shown = ", ".join(_format_size(size) for size in bad)
        return ConfigProblem(
            location=location,
            value=raw,
            message=f"disk sizes must be positive numbers of GB; not {shown}",
        )
    if len(sizes) > MAX_DISKS_PER_HOST:
        return ConfigProblem(
            location=location,
            value=raw,
            message=f"at most {MAX_DISKS_PER_HOST} disks per host, got {len(sizes)}",
        )
    return None


def _name_problem(location: str, name: str) -> ConfigProblem | None:
    if _NAME.fullmatch(name):
        return None
    return ConfigProblem(
        location=location,
        value=name,
        message=("must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"),
    )


def _choice_problem(
    location: str, value: str, valid: Sequence[str], what: tuple[str, str], note: str = ""
) -> ConfigProblem | None:
    """``value`` must be one of ``valid``; ``what`` names one and several of them."""
    if value in valid:
        return None
    one, several = what
    return ConfigProblem(
        location=location,
        value=value,
        message=f"unknown {one}; valid {several}: {', '.join(valid)}{note}",
    )


def _policy_problem(location: str, name: str) -> ConfigProblem | None:
    return _choice_problem(location, name, tuple(POLICIES), ("storage policy", "policies"))


def _architecture_problem(location: str, value: str) -> ConfigProblem | None:
    return _choice_problem(
        location,
        value,
        ARCHITECTURES,
        ("vSAN architecture", "architectures"),
        " (Original or Express Storage Architecture)",
    )


def _hosts_list(count: int) -> str:
    if count <= 3:
        return ", ".join(host_name(number) for number in range(1, count + 1))
    return f"{host_name(1)}, {host_name(2)}, ... {host_name(count)}"


def _object_problems(config: ClusterConfig) -> list[ConfigProblem]:
    """Every invariant violated by a constructed ``ClusterConfig``."""
    checks: list[ConfigProblem | None] = [
        _policy_problem(f"[{_PLATFORM}] default_policy", config.default_policy),
        _range_problem(
            f"[{_PLATFORM}] max_services", str(config.max_services), config.max_services, 1, None
        ),
        _range_problem(
            f"[{_PLATFORM}] resource_quota",
            str(config.resource_quota),
            config.resource_quota,
            1,
            100,
        ),
        _range_problem(
            f"[{_CLUSTER}] capacity_warning_percent",
            str(config.capacity_warning_percent),
            config.capacity_warning_percent,
            1,
            100,
        ),
        _range_problem(
            f"[{_CLUSTER}] object_repair_timer",
            str(config.object_repair_timer),
            config.object_repair_timer,
            0,
            MAX_REPAIR_TIMER,
        ),
        _range_problem(
            f"[{_CLUSTER}] resync_mbps",
            str(config.resync_mbps),
            config.resync_mbps,
            1,
            MAX_RESYNC_MBPS,
        ),
        _architecture_problem(f"[{_CLUSTER}] architecture", str(config.architecture)),
        _range_problem(
            f"[{_CLUSTER}] hosts", str(len(config.hosts)), len(config.hosts), 1, MAX_HOSTS
        ),
    ]
    for number, spec in enumerate(config.hosts, start=1):
        section = f"[host {spec.name}]"
        if spec.name != host_name(number):
            checks.append(
                ConfigProblem(
                    location=f"[{_CLUSTER}] hosts",
                    value=spec.name,
                    message=(
                        f"host #{number} must be named {host_name(number)!r}: hosts are named "
                        f"{_hosts_list(len(config.hosts))} in order"
                    ),
                )
            )
        checks.append(_name_problem(f"{section} fault_domain", spec.fault_domain))
        checks.append(
            _size_problem(
                f"{section} capacity_disks",
                _format_sizes(spec.capacity_disks),
                spec.capacity_disks,
            )
        )
        checks.append(
            _size_problem(
                f"{section} direct_disks", _format_sizes(spec.direct_disks), spec.direct_disks
            )
        )
    return [problem for problem in checks if problem is not None]
