"""The pure call-flow core: plain objects fed events, answering with commands. No I/O here."""
