"""A thin ARI client: REST over aiohttp, events over one websocket that reconnects by itself."""
