"""The Datasette front-end over the store (``marsad inspect``): metadata, plugin, server."""
