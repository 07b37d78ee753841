"""Generated code of the agentsessions.v1 contract (protos/agentsessions/v1). Do not edit."""
