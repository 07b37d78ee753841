"""The agentsessions Python client library and command line."""
