"""ivr: the front door and call distribution of a contact center on Asterisk, over ARI."""

__version__ = "0.1.0"
