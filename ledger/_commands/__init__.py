"""The `ledger` subcommands, one module per area; `ledger._cli` assembles them."""
