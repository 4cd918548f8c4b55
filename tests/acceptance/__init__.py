"""Acceptance tests: the command line and the pipeline on fixtures and the corpora."""
