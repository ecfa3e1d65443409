"""A thin ARI client: REST over httpx, events over one websocket that reconnects by itself."""
