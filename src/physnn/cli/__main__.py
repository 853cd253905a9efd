"""``python -m physnn.cli``: the ``physnn`` command."""

from physnn.cli import main

raise SystemExit(main())
