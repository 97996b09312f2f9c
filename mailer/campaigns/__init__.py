"""Campaigns: plan the audience into the ledger, send it in batches, report progress."""
