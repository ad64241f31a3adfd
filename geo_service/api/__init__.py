"""The web side: the app factory, OpenAPI, middleware (limits, headers, the 500 handler),
the tile service and one router per resource."""
