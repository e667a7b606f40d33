"""The ``mlpbench`` command line: ``app`` is the parser and the error funnel; each
subcommand is one module ``cmd_<name>`` (asv's ``commands/`` layout) with ``add(sub)``, which
declares its parser, and ``run(args) -> int``, its exit status. Renderers return lines; the
commands print them."""
