"""Domain rules of agentsessions: what may be stored and how, independent of gRPC and SQL."""
