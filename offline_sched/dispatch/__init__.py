"""Executable plans: per-replica queues with start times, repair, plan checks, batch files."""
