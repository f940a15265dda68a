"""`python -m ledger ...` is the `ledger` command."""

from ledger._cli import main

main()
