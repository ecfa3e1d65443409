"""Distribution: work waiting in campaigns' lines, offered to agents by the campaigns'
strategies. A pure engine (``engine.Distribution``): events in, commands out; the ARI,
database and HTTP adapters carry the commands out and report back with events."""
