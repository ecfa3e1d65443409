"""FastAGI: the identification node for classic dialplans."""
