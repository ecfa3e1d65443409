"""Backend-run campaigns: the customer's own backend drives each call, and ivr reports the call's
events to its webhook."""
