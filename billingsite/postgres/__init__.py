"""Django's PostgreSQL backend with a health check that costs no round trip when the socket is
quiet (``base.DatabaseWrapper``); settings name it as ``ENGINE``."""
