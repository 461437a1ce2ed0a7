"""The gateway: the ASGI app that carries sockets and HTTP to and from the core."""
