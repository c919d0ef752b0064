"""``videoqa eval charades-sta`` as a ``ray job submit`` entry point: see pipelines/README.md."""

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="charades-sta"))
