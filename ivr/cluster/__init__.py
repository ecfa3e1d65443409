"""Several Asterisk nodes behind Kamailio: the cluster file, Kamailio's configuration, and the
processes `ivr cluster` runs."""
