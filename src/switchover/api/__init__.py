"""The HTTP API of ``switchover serve``: FastAPI routes over the service layer."""
