"""Run the command line: ``python -m dedup``."""

from dedup.cli import main

if __name__ == "__main__":
    main()
