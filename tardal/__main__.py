import sys

from tardal.cli import main

sys.exit(main())
