"""The S3 API layer: protocol pieces (sans-IO) and the ASGI app built on them."""
