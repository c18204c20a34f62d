"""Serving: ``serve`` (the HTTP API and demo page) over ``batching`` (the work queue)."""
