"""What Stripe did not deliver: the reconciler, its sweeps and saved state, and the ledger of the
event log it checks against."""
