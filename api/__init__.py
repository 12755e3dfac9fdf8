"""The edges: FastAPI app, storage, cache, index synchronisation and the command line."""
