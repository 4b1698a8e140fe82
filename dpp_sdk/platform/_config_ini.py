"""Reading a cluster configuration from its INI text (see :mod:`._config` for the keys).

Every problem in a file is collected, each naming its section, key and value, and reported at
once in one :class:`~dpp_sdk.platform.ConfigError`; the reader carries on past each problem.
"""

from __future__ import annotations

import codecs
import configparser
import os
import re

import attrs

from dpp_sdk.platform._config import (
    _CLUSTER,
    _DEFAULT_CAPACITY_DISKS,
    _DEFAULT_CAPACITY_GB,
    _DEFAULT_DIRECT_DISKS,
    _DEFAULT_DIRECT_GB,
    _DEFAULT_HOSTS,
    _PLATFORM,
    MAX_DISKS_PER_HOST,
    MAX_HOSTS,
    MAX_REPAIR_TIMER,
    MAX_RESYNC_MBPS,
    ClusterConfig,
    ConfigError,
    ConfigProblem,
    HostSpec,
    _architecture_problem,
    _hosts_list,
    _name_problem,
    _policy_problem,
    _range_problem,
    _size_problem,
    _uniform_hosts,
    host_name,
)
from dpp_sdk.platform._policies import ARCHITECTURES, Architecture

__all__ = ["load_config", "parse_config"]

_PLATFORM_KEYS = ("enabled", "default_policy", "max_services", "resource_quota")
_HOST_KEYS = ("fault_domain", "capacity_disks", "direct_disks")
_HOST_SECTION = re.compile(r"host\s+(?P<name>\S+)")
_CLUSTER_KEYS = (
    "hosts",
    "capacity_disks_per_host",
    "capacity_disk_gb",
    "direct_disks_per_host",
    "direct_disk_gb",
    "capacity_warning_percent",
    "object_repair_timer",
    "resync_mbps",
    "architecture",
)
_INTEGER = re.compile(r"[+-]?[0-9]+")
"""A decimal integer in ASCII digits; ``int()`` also takes ``1_0`` and other scripts' digits.
A sign is allowed so that a negative value is reported by the range check."""
# Sections and keys renamed by the reader after a duplicate start with this marker; they have
# already been reported and are otherwise ignored.
_DUPLICATE = "\x00duplicate"


# -- parsing -----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> ClusterConfig:
    """Read the INI file at ``path`` (UTF-8, with or without a byte-order mark);
    ``ConfigError`` lists every problem in it.

    A file that is not UTF-8 is a ``ConfigError`` naming the file, the line and the byte
    offset of the first byte that cannot be decoded. A missing or unreadable file raises the
    usual ``OSError``.
    """
    with open(path, "rb") as stream:
        data = stream.read()
    source = os.fspath(path)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([_not_utf8(data, bom + error.start)], source=source) from None
    return parse_config(text, source=source)


def _not_utf8(data: bytes, offset: int) -> ConfigProblem:
    """The problem of a file whose byte at ``offset`` is not UTF-8."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    line = data[start : None if end < 0 else end].rstrip(b"\r")
    number = data.count(b"\n", 0, offset) + 1
    return ConfigProblem(
        location=f"line {number}",
        value=line.decode("utf-8", errors="backslashreplace"),
        message=(
            f"not UTF-8: byte 0x{data[offset]:02x} at offset {offset} of the file cannot be "
            "decoded; save the file as UTF-8"
        ),
    )


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


def _number(raw: str) -> float:
    """``raw`` as a decimal number written in ASCII (digits 0-9, an optional fraction and
    exponent); ValueError otherwise, also for what ``float()`` takes besides: ``1_0``, other
    scripts' digits."""
    if not raw.isascii() or "_" in raw:
        raise ValueError(f"not a decimal number: {raw!r}")
    return float(raw)


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
        repair_timer = self.integer(
            cluster,
            section=_CLUSTER,
            key="object_repair_timer",
            default=defaults.object_repair_timer,
            minimum=0,
            maximum=MAX_REPAIR_TIMER,
        )
        resync_mbps = self.integer(
            cluster,
            section=_CLUSTER,
            key="resync_mbps",
            default=defaults.resync_mbps,
            maximum=MAX_RESYNC_MBPS,
        )
        architecture = self.architecture(cluster, default=defaults.architecture)
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
            or repair_timer is None
            or resync_mbps is None
            or architecture is None
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
            object_repair_timer=repair_timer,
            resync_mbps=resync_mbps,
            architecture=architecture,
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

    def architecture(self, values: dict[str, str], default: Architecture) -> Architecture | None:
        """``[cluster] architecture``: ``osa`` or ``esa``, exactly."""
        raw = values.get("architecture")
        if raw is None:
            return default
        for known in ARCHITECTURES:
            if raw == known:
                return known
        self.add(_architecture_problem(f"[{_CLUSTER}] architecture", raw))
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
        if not _INTEGER.fullmatch(raw):
            self.problem(location, raw, "not an integer (decimal digits 0-9)")
            return None
        value = int(raw)
        if self.add(_range_problem(location, raw, value, minimum, maximum)):
            return value
        return None

    def sizes(self, location: str, raw: str) -> tuple[float, ...] | None:
        items = [item.strip() for item in raw.split(",")] if raw.strip() else []
        sizes: list[float] = []
        not_numbers: list[str] = []
        for item in items:
            try:
                sizes.append(_number(item))
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
            value = _number(raw)
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
