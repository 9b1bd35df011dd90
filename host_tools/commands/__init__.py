"""One module per `mcutrain` subcommand (see host_tools.cli)."""
