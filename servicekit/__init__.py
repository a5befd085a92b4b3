"""What every fitmesh gRPC service needs: settings, logs, errors, metrics and the server."""
