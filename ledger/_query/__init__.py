"""Reading a ledger: the Ledger, RunSet and RunView objects, the filter language, the index."""
