"""What every broken provider declares: the check aimed at its defect."""

from __future__ import annotations

from typing import ClassVar

import dpp_sdk as dpp


class Broken(dpp.ServiceProvider):
    """A provider with one seeded defect (a mixin next to the sample it breaks)."""

    #: The ID of the conformance check that must fail on this provider.
    caught_by: ClassVar[str]
    #: Words the failure message must contain, so it points at the defect.
    says: ClassVar[tuple[str, ...]] = ()
    #: The seed its self-test runs with (any seed must catch it; this one is replayed).
    seed: ClassVar[int] = 0

    @classmethod
    def defect(cls) -> str:
        """The docstring's first line: the seeded defect in words."""
        return (cls.__doc__ or "").strip().splitlines()[0]
