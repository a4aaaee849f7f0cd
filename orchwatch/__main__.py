import sys

from orchwatch.cli import main

sys.exit(main())
