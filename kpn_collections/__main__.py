"""`python -m kpn_collections`."""

from kpn_collections.cli import main

if __name__ == "__main__":
    main(prog_name="kpn-collections")
