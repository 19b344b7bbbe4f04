"""Evaluation scripts that score akhbar transforms against annotated corpora."""
