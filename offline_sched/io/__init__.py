"""Tabular input and output: reading and validating tables, atomic writers, output suffixes."""
