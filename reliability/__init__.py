"""The reliability fault suite: real broker, real AgentSessions with fake models, faults injected.

`python -m reliability` (or `make reliability`) runs every scenario, prints a table and writes
it to docs/reliability.md; it exits 1 when any scenario lost, duplicated or reordered an event
or failed one of its checks.
"""
