"""The ARI adapter: turns ARI events into core events, and core commands into ARI requests."""
