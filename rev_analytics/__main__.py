"""``python -m rev_analytics`` runs the same CLI as the ``rev-analytics`` script."""

from rev_analytics.cli.main import main

raise SystemExit(main())
