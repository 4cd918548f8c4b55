"""End-to-end tests: collections run by external tools (newman, Prism, pre-commit, pip)."""
