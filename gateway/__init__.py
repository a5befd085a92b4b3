"""The REST + WebSocket door to fitmesh: FastAPI in front of the gRPC services."""
