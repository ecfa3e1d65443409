"""A thin ARI client: REST over plain HTTP/1.1, events over one websocket that reconnects by itself."""
