"""HTTP layer: FastAPI app factory, thin handlers, templates and static files."""
