from kcplan.cli import main

raise SystemExit(main())
