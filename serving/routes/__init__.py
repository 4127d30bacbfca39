"""The HTTP API's routers, one per concern; `serving.api.create_app` mounts them."""
