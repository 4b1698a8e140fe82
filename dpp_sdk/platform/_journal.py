"""What the platform records about itself: the audit trail, events, and the platform log.

The :class:`Journal` owns the append-only tables (``audit``, ``events``, ``secret_values``)
and the log file, and redacts every secret value the platform ever stored from all three:
audit details, event messages and every log line (tracebacks included) pass through
:meth:`Journal.scrub`. Redaction costs time proportional to the text, not to the number of
secrets (a :class:`Redactor` indexes the values by their first characters).

:meth:`Journal.refusals` makes "every refused request is audited" structural: a request's
checks run inside ``with journal.refusals(action, target):`` and any
:class:`~dpp_sdk.DppError` leaving the block is audited as ``refused`` before it propagates.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from dpp_sdk.contract import DppError, structure
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._models import AuditRecord, Event
from dpp_sdk.platform._store import Store

__all__ = ["LOG_NAME", "MASK", "Journal", "Redactor", "first_line"]

LOG_NAME = "datapersistence.log"
MASK = "********"
_PREFIX = 6  # every stored secret value has at least this many characters

Outcome = Literal["succeeded", "failed", "refused"]


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, or its type when the message is empty."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _escaped_once(value: str) -> set[str]:
    """``value`` JSON-escaped (ASCII or not) and as ``repr``/``ascii`` write it."""
    return {
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        ascii(value)[1:-1],
        # repr chooses double quotes for a value holding a single quote; inside a repr of a
        # containing object the other quote may be the escaped one.
        value.replace("\\", "\\\\").replace("'", "\\'"),
        value.replace("\\", "\\\\").replace('"', '\\"'),
    }


def _escaped_forms(value: str) -> set[str]:
    """``value`` as written raw, escaped once, and escaped twice (a JSON document quoting an
    exception's message, a repr of a JSON text...)."""
    once = _escaped_once(value)
    twice = {form for one in once for form in _escaped_once(one)}
    return {value, *once, *twice}


_REGEX_LIMIT = 256
"""Up to this many known forms, one compiled regular expression finds them (at C speed);
beyond, a prefix index keeps the cost linear in the text whatever the number of secrets."""


class Redactor:
    """Replaces known secret values in text with asterisks, in time linear in the text."""

    def __init__(self) -> None:
        self._index: dict[str, list[str]] = {}
        self._values: set[str] = set()
        self._guard = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterator[str] | list[str] | set[str]) -> None:
        """Learn more secret values (shorter than the index prefix are ignored).

        Each value is also known in the forms it takes when escaped for JSON or by ``repr``
        (a secret with a quote, a backslash or a non-ASCII character looks different inside
        an exception's message or a JSON document)."""
        with self._guard:
            for value in values:
                for form in _escaped_forms(value):
                    if len(form) < _PREFIX or form in self._values:
                        continue
                    self._values.add(form)
                    bucket = self._index.setdefault(form[:_PREFIX], [])
                    bucket.append(form)
                    bucket.sort(key=len, reverse=True)
            forms = sorted(self._values, key=len, reverse=True)  # longest first: whole secrets
            self._pattern = (
                re.compile("|".join(map(re.escape, forms)))
                if 0 < len(forms) <= _REGEX_LIMIT
                else None
            )

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def scrub(self, text: str) -> str:
        """``text`` with every known secret value replaced by ``********``."""
        index = self._index
        if not index or len(text) < _PREFIX:
            return text
        pattern = self._pattern
        if pattern is not None:
            return pattern.sub(MASK, text)
        pieces: list[str] = []
        start = i = 0
        end = len(text) - _PREFIX
        while i <= end:
            candidates = index.get(text[i : i + _PREFIX])
            if candidates:
                for value in candidates:
                    if text.startswith(value, i):
                        pieces.append(text[start:i])
                        pieces.append(MASK)
                        i += len(value)
                        start = i
                        break
                else:
                    i += 1
            else:
                i += 1
        if not pieces:
            return text
        pieces.append(text[start:])
        return "".join(pieces)


class _ScrubSecrets(logging.Filter):
    """Redacts secret values from every log record; a provider's leak becomes an event."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self._journal = weakref.ref(journal)

    def filter(self, record: logging.LogRecord) -> bool:
        journal = self._journal()
        if journal is None:
            return True
        text = record.getMessage()
        scrubbed = journal.scrub(text)
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
            if getattr(record, "provider", False):
                target = str(getattr(record, "target", "platform"))
                journal.event(
                    "secret-leak",
                    target,
                    f"a secret value appeared in the provider log of instance {target!r}; "
                    "it was redacted",
                    where="the provider log",
                )
        return True


class _ScrubbingFormatter(logging.Formatter):
    """Formats a record, then redacts secrets from all of it (tracebacks and stacks too)."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s [%(target)s] %(message)s", defaults={"target": "platform"}
        )
        self._journal = weakref.ref(journal)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        journal = self._journal()
        return text if journal is None else journal.scrub(text)


class _InstanceAdapter(logging.LoggerAdapter[logging.Logger]):
    """A provider's logger: every record is tagged with its instance and marked as the
    provider's, so a secret it leaks is reported."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        assert self.extra is not None
        kwargs.setdefault("extra", {}).update(target=self.extra["target"], provider=True)
        return msg, kwargs


class Journal:
    """Audit trail, events, the platform log and secret redaction, over one store."""

    def __init__(
        self, store: Store, clock: Clock, *, principal: str, log_path: Path | None
    ) -> None:
        self._store = store
        self.clock = clock
        self._principal = principal
        # Who acts in the current thread or task, when someone other than ``principal`` (the
        # gateway serving several principals); see :meth:`acting_as`.
        self._acting: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            "dpp_principal", default=None
        )
        self.log_path = log_path
        self.log = logging.Logger("dpp.platform", logging.INFO)
        self._handler: logging.Handler | None = None
        if log_path is not None:
            handler = logging.FileHandler(log_path, encoding="utf-8")
            handler.setFormatter(_ScrubbingFormatter(self))
            self.log.addHandler(handler)
            self._handler = handler
        else:
            self.log.addHandler(logging.NullHandler())
        self.log.addFilter(_ScrubSecrets(self))
        self._redactor = Redactor()
        self._secrets_seq = 0
        self._secrets_version: tuple[int, int] | None = None

    @property
    def principal(self) -> str:
        """The principal audit records name: the one acting now, else the platform's."""
        return self._acting.get() or self._principal

    @contextlib.contextmanager
    def acting_as(self, principal: str) -> Iterator[None]:
        """Record ``principal`` for what the current thread (or task) does in the block."""
        token = self._acting.set(principal)
        try:
            yield
        finally:
            self._acting.reset(token)

    def close(self) -> None:
        """Close the log file."""
        if self._handler is not None:
            self.log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    # ------------------------------------------------------------------ secrets

    def remember_secret(self, value: str) -> None:
        """Redact ``value`` from now on, here and (through the store) in other processes."""
        self._redactor.add([value])
        self._store.add_secret_value(value)

    def _refresh_secrets(self) -> None:
        """Learn values other processes stored, but only if the store's lock is free right
        now: redaction (a provider's worker thread logging) must never wait for, or deadlock
        on, the lock held by a running verb."""
        lock = self._store.lock
        if not lock.acquire(blocking=False):
            return
        try:
            version = self._store.data_version()
            if version != self._secrets_version:
                self._secrets_seq, values = self._store.secret_values(since=self._secrets_seq)
                self._redactor.add(values)
                self._secrets_version = version
        finally:
            lock.release()

    def scrub(self, text: str) -> str:
        """Replace any secret value in ``text`` with asterisks."""
        if not text:
            return text
        self._refresh_secrets()
        return self._redactor.scrub(text)

    def scrub_detecting(self, text: str, instance: str, where: str) -> str:
        """:meth:`scrub`, and report a ``secret-leak`` event when something was redacted."""
        scrubbed = self.scrub(text)
        if scrubbed != text:
            self.event(
                "secret-leak",
                instance,
                f"a secret value appeared in {where} of instance {instance!r}; it was redacted",
                where=where,
            )
        return scrubbed

    # ------------------------------------------------------------------ audit and events

    def audit(self, action: str, target: str, outcome: Outcome, detail: str = "") -> None:
        """Append to the audit trail (and the log)."""
        detail = self.scrub(detail)
        self._store.append(
            "audit",
            {
                "time": self.clock.now().isoformat(),
                "principal": self.principal,
                "action": action,
                "target": target,
                "outcome": outcome,
                "detail": detail,
            },
        )
        self.log.info(
            "audit %s %s by %s: %s%s",
            action,
            target,
            self.principal,
            outcome,
            f" ({detail})" if detail else "",
            extra={"target": target},
        )

    @contextlib.contextmanager
    def refusals(self, action: str, target: str) -> Iterator[None]:
        """Audit any :class:`~dpp_sdk.DppError` leaving the block as ``refused``."""
        try:
            yield
        except DppError as exc:
            self.audit(action, target, "refused", first_line(exc))
            raise

    def event(self, kind: str, target: str, message: str, **data: Any) -> None:
        """Record a platform event (and log it as a warning)."""
        message = self.scrub(message)
        self._store.append(
            "events",
            {
                "time": self.clock.now().isoformat(),
                "kind": kind,
                "target": target,
                "message": message,
                "data": data,
            },
        )
        self.log.warning("%s: %s", kind, message, extra={"target": target})

    def audit_records(self, *, limit: int | None = None, since: int = 0) -> list[AuditRecord]:
        """Audit records after sequence number ``since``, oldest first; with ``limit`` and no
        ``since``, the last ``limit`` records."""
        rows = self._store.tail("audit", since=since, limit=limit, last=since == 0)
        return [structure(r, AuditRecord) for r in rows]

    def events(
        self, *, since: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events after sequence number ``since`` (of ``kind``), oldest first, at most
        ``limit``."""
        out: list[Event] = []
        cursor = since
        while True:
            rows = self._store.tail("events", since=cursor, limit=500)
            if not rows:
                return out
            for row in rows:
                cursor = row["seq"]
                event = structure(row, Event)
                if kind is None or event.kind == kind:
                    out.append(event)
                    if limit is not None and len(out) >= limit:
                        return out

    def instance_logger(self, instance: str) -> logging.LoggerAdapter[logging.Logger]:
        """The logger a provider gets for ``instance``."""
        return _InstanceAdapter(self.log, {"target": instance})
