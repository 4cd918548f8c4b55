"""`python -m kpn_collections`."""

from kpn_collections.cli import entry

if __name__ == "__main__":
    entry()
