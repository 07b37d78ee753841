"""gRPC servicers: they translate proto messages to domain calls and back, nothing more."""
