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
import configparser
import math
import os
import re
from collections.abc import Iterable, Sequence

import attrs

from dpp_sdk.platform._policies import DEFAULT_POLICY, POLICIES

__all__ = [
    "MAX_DISKS_PER_HOST",
    "MAX_HOSTS",
    "ClusterConfig",
    "ConfigError",
    "ConfigProblem",
    "HostSpec",
    "capacity_disk_name",
    "direct_disk_name",
    "host_name",
    "load_config",
    "parse_config",
]

MAX_HOSTS = 1000
"""Upper bound on ``[cluster] hosts`` (a sanity limit against typos, not a vSAN figure)."""

MAX_DISKS_PER_HOST = 64
"""Upper bound on the number of capacity disks, and of direct disks, on one host."""

_DEFAULT_HOSTS = 4
_DEFAULT_CAPACITY_DISKS = 2
_DEFAULT_CAPACITY_GB = 2000.0
_DEFAULT_DIRECT_DISKS = 4
_DEFAULT_DIRECT_GB = 1000.0

_PLATFORM = "vsan-datapersistence"
_CLUSTER = "cluster"
_HOST_SECTION = re.compile(r"host\s+(?P<name>\S+)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_PLATFORM_KEYS = ("enabled", "default_policy", "max_services", "resource_quota")
_CLUSTER_KEYS = (
    "hosts",
    "capacity_disks_per_host",
    "capacity_disk_gb",
    "direct_disks_per_host",
    "direct_disk_gb",
    "capacity_warning_percent",
)
_HOST_KEYS = ("fault_domain", "capacity_disks", "direct_disks")
# Sections and keys renamed by the reader after a duplicate start with this marker; they have
# already been reported and are otherwise ignored.
_DUPLICATE = "\x00duplicate"


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


def _policy_problem(location: str, name: str) -> ConfigProblem | None:
    if name in POLICIES:
        return None
    return ConfigProblem(
        location=location,
        value=name,
        message=f"unknown storage policy; valid policies: {', '.join(POLICIES)}",
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


# -- parsing -----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> ClusterConfig:
    """Read the INI file at ``path`` (UTF-8); ``ConfigError`` lists every problem in it.

    A missing or unreadable file raises the usual ``OSError``.
    """
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    return parse_config(text, source=os.fspath(path))


def parse_config(text: str, source: str = "<string>") -> ClusterConfig:
    """Parse INI ``text``; ``ConfigError`` lists every problem, naming ``source`` in its message.

    Keys left out take their defaults (see the module docstring); an empty text gives
    :meth:`ClusterConfig.default`.
    """
    problems: list[ConfigProblem] = []
    parser = _read(text, problems)
    reader = _Reader(parser, problems)
    config = reader.config()
    if problems:
        raise ConfigError(problems, source=source)
    assert config is not None  # the reader only leaves it unset after recording a problem
    return config


def _new_parser() -> configparser.ConfigParser:
    # No [DEFAULT] magic: a section by that name is just an unknown section.
    return configparser.ConfigParser(
        interpolation=None,
        inline_comment_prefixes=(";", "#"),
        default_section="\x00defaults",
    )


def _read(text: str, problems: list[ConfigProblem]) -> configparser.ConfigParser:
    """Read ``text`` into a parser, recording syntax problems and carrying on past them.

    configparser stops at a duplicate section or key and at a key before the first section;
    each time, the offending line is reported and neutralised and the text is read again.
    """
    lines = text.splitlines()
    offset = 0  # lines inserted at the top
    while True:
        parser = _new_parser()
        try:
            parser.read_string("\n".join(lines) + "\n")
        except configparser.DuplicateSectionError as error:
            index = (error.lineno or 1) - 1
            problems.append(
                ConfigProblem(
                    location=f"line {index + 1 - offset}",
                    value=lines[index].strip(),
                    message=f"duplicate section [{error.section}]",
                )
            )
            lines[index] = f"[{_DUPLICATE}{index}]"
            continue
        except configparser.DuplicateOptionError as error:
            index = (error.lineno or 1) - 1
            problems.append(
                ConfigProblem(
                    location=f"line {index + 1 - offset}",
                    value=lines[index].strip(),
                    message=f"duplicate key {error.option!r} in section [{error.section}]",
                )
            )
            lines[index] = f"{_DUPLICATE}{index} ="
            continue
        except configparser.MissingSectionHeaderError as error:
            problems.append(
                ConfigProblem(
                    location=f"line {error.lineno - offset}",
                    value=error.line.strip(),
                    message="key outside any section; the first line must be a [section]",
                )
            )
            lines.insert(0, f"[{_DUPLICATE}top]")
            offset += 1
            continue
        except configparser.ParsingError as error:
            # Raised after the whole text was read: the parser holds everything else.
            for lineno, _ in error.errors:
                problems.append(
                    ConfigProblem(
                        location=f"line {lineno - offset}",
                        value=lines[lineno - 1].strip(),
                        message="not a section header, a `key = value` line or a comment",
                    )
                )
        return parser


@attrs.define
class _HostOverrides:
    """What one ``[host NAME]`` section changes (``None``: keep the ``[cluster]`` value)."""

    fault_domain: str | None = None
    capacity_disks: tuple[float, ...] | None = None
    direct_disks: tuple[float, ...] | None = None

    def apply(self, spec: HostSpec) -> HostSpec:
        return HostSpec(
            name=spec.name,
            fault_domain=spec.fault_domain if self.fault_domain is None else self.fault_domain,
            capacity_disks=(
                spec.capacity_disks if self.capacity_disks is None else self.capacity_disks
            ),
            direct_disks=spec.direct_disks if self.direct_disks is None else self.direct_disks,
        )


class _Reader:
    """Turns a parsed INI into a ``ClusterConfig``, recording every problem on the way."""

    def __init__(self, parser: configparser.ConfigParser, problems: list[ConfigProblem]) -> None:
        self.parser = parser
        self.problems = problems

    def problem(self, location: str, value: str, message: str) -> None:
        self.problems.append(ConfigProblem(location=location, value=value, message=message))

    def add(self, problem: ConfigProblem | None) -> bool:
        """Record ``problem`` if there is one; return whether the value was fine."""
        if problem is None:
            return True
        self.problems.append(problem)
        return False

    def config(self) -> ClusterConfig | None:
        host_sections: dict[str, configparser.SectionProxy] = {}
        for name in self.parser.sections():
            if name.startswith(_DUPLICATE) or name in (_PLATFORM, _CLUSTER):
                continue
            match = _HOST_SECTION.fullmatch(name)
            if match:
                host_sections[match["name"]] = self.parser[name]
            else:
                self.problem(
                    f"[{name}]",
                    "",
                    f"unknown section; valid sections: [{_PLATFORM}], [{_CLUSTER}], [host NAME]",
                )
        platform = self.section(_PLATFORM, _PLATFORM_KEYS)
        cluster = self.section(_CLUSTER, _CLUSTER_KEYS)
        defaults = ClusterConfig.default()

        enabled = self.boolean(platform, section=_PLATFORM, key="enabled", default=defaults.enabled)
        default_policy = platform.get("default_policy", defaults.default_policy)
        policy_ok = self.add(_policy_problem(f"[{_PLATFORM}] default_policy", default_policy))
        max_services = self.integer(
            platform, section=_PLATFORM, key="max_services", default=defaults.max_services
        )
        quota = self.integer(
            platform,
            section=_PLATFORM,
            key="resource_quota",
            default=defaults.resource_quota,
            maximum=100,
        )
        warning = self.integer(
            cluster,
            section=_CLUSTER,
            key="capacity_warning_percent",
            default=defaults.capacity_warning_percent,
            maximum=100,
        )
        hosts = self.integer(
            cluster, section=_CLUSTER, key="hosts", default=_DEFAULT_HOSTS, maximum=MAX_HOSTS
        )
        capacity_count = self.integer(
            cluster,
            section=_CLUSTER,
            key="capacity_disks_per_host",
            default=_DEFAULT_CAPACITY_DISKS,
            minimum=0,
            maximum=MAX_DISKS_PER_HOST,
        )
        capacity_gb = self.size(
            cluster, section=_CLUSTER, key="capacity_disk_gb", default=_DEFAULT_CAPACITY_GB
        )
        direct_count = self.integer(
            cluster,
            section=_CLUSTER,
            key="direct_disks_per_host",
            default=_DEFAULT_DIRECT_DISKS,
            minimum=0,
            maximum=MAX_DISKS_PER_HOST,
        )
        direct_gb = self.size(
            cluster, section=_CLUSTER, key="direct_disk_gb", default=_DEFAULT_DIRECT_GB
        )

        overrides = {
            name: self.host_overrides(name, section, hosts)
            for name, section in host_sections.items()
        }

        if (
            self.problems
            or enabled is None
            or not policy_ok
            or max_services is None
            or quota is None
            or warning is None
            or hosts is None
            or capacity_count is None
            or capacity_gb is None
            or direct_count is None
            or direct_gb is None
        ):
            return None
        specs = [
            overrides[spec.name].apply(spec) if spec.name in overrides else spec
            for spec in _uniform_hosts(
                hosts, (capacity_gb,) * capacity_count, (direct_gb,) * direct_count
            )
        ]
        return ClusterConfig(
            enabled=enabled,
            default_policy=default_policy,
            max_services=max_services,
            resource_quota=quota,
            capacity_warning_percent=warning,
            hosts=specs,
        )

    def section(self, name: str, keys: tuple[str, ...]) -> dict[str, str]:
        """The keys of section ``name`` (empty if absent), after reporting unknown keys."""
        if not self.parser.has_section(name):
            return {}
        values = dict(self.parser[name])
        for key, value in values.items():
            if key.startswith(_DUPLICATE):
                continue
            if key not in keys:
                self.problem(
                    f"[{name}] {key}", value, f"unknown key; valid keys: {', '.join(keys)}"
                )
        return values

    def boolean(self, values: dict[str, str], section: str, key: str, default: bool) -> bool | None:
        if key not in values:
            return default
        raw = values[key]
        states = configparser.ConfigParser.BOOLEAN_STATES
        if raw.lower() in states:
            return states[raw.lower()]
        self.problem(f"[{section}] {key}", raw, "not a boolean (true/false, yes/no, on/off, 1/0)")
        return None

    def integer(
        self,
        values: dict[str, str],
        *,
        section: str,
        key: str,
        default: int,
        minimum: int = 1,
        maximum: int | None = None,
    ) -> int | None:
        if key not in values:
            return default
        raw = values[key]
        location = f"[{section}] {key}"
        try:
            value = int(raw, 10)
        except ValueError:
            self.problem(location, raw, "not an integer")
            return None
        if self.add(_range_problem(location, raw, value, minimum, maximum)):
            return value
        return None

    def sizes(self, location: str, raw: str) -> tuple[float, ...] | None:
        items = [item.strip() for item in raw.split(",")] if raw.strip() else []
        sizes: list[float] = []
        not_numbers: list[str] = []
        for item in items:
            try:
                sizes.append(float(item))
            except ValueError:
                not_numbers.append(repr(item))
        if not_numbers:
            self.problem(
                location,
                raw,
                f"expected disk sizes in GB separated by commas; not numbers: "
                f"{', '.join(not_numbers)}",
            )
            return None
        if self.add(_size_problem(location, raw, sizes)):
            return tuple(sizes)
        return None

    def size(
        self, values: dict[str, str], *, section: str, key: str, default: float
    ) -> float | None:
        if key not in values:
            return default
        raw = values[key]
        location = f"[{section}] {key}"
        try:
            value = float(raw)
        except ValueError:
            self.problem(location, raw, "not a number of GB")
            return None
        if self.add(_size_problem(location, raw, [value])):
            return value
        return None

    def host_overrides(
        self, name: str, section: configparser.SectionProxy, hosts: int | None
    ) -> _HostOverrides:
        location = f"[host {name}]"
        if hosts is not None and name not in {host_name(n) for n in range(1, hosts + 1)}:
            self.problem(
                location,
                "",
                f"no such host in the cluster; its {hosts} host{'s' if hosts != 1 else ''} "
                f"are {_hosts_list(hosts)}",
            )
        overrides = _HostOverrides()
        for key, raw in section.items():
            if key.startswith(_DUPLICATE):
                continue
            if key == "fault_domain":
                if self.add(_name_problem(f"{location} fault_domain", raw)):
                    overrides.fault_domain = raw
            elif key == "capacity_disks":
                overrides.capacity_disks = self.sizes(f"{location} {key}", raw)
            elif key == "direct_disks":
                overrides.direct_disks = self.sizes(f"{location} {key}", raw)
            else:
                self.problem(
                    f"{location} {key}", raw, f"unknown key; valid keys: {', '.join(_HOST_KEYS)}"
                )
        return overrides
