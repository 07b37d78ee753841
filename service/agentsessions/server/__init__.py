"""The agentsessions gRPC server."""
