"""`python -m kvdb`: the `kvdb` command, for when the script is not on the PATH."""

from __future__ import annotations

from kvdb.cli import main

if __name__ == "__main__":
    main()
