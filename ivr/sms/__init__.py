"""SMS gateways for the pull queue: sending through Kannel or an HTTP provider, and receiving
the staff's replies from them."""
