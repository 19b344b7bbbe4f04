"""Thin Apache Beam pipelines (batch and streaming), their options, and the ``akhbar`` CLI."""
