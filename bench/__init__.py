"""Benchmarks for dpp-sdk (run by hand; see docs/performance.md). Not part of the package."""
