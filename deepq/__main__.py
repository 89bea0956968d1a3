from deepq.cli import main

raise SystemExit(main())
