"""`python -m data_mesh.cli`: the `data-mesh` command."""

import sys

from data_mesh.cli import main

sys.exit(main())
