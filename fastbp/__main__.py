"""``python -m fastbp``: the command line of :mod:`fastbp.cli`."""
import sys

from fastbp.cli import main

if __name__ == "__main__":
    sys.exit(main())
