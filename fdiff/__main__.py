import sys

from fdiff.cli import main

sys.exit(main())
