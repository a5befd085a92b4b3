"""The scoring rules of fitmesh, served over gRPC. Stateless."""
