"""Stress tests (issue 8): several processes on one state directory, a SIGKILL loop,
providers that hang or kill themselves, and a secret sweep. See docs/reliability.md."""
