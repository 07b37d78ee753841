"""Generated from protos/agentsessions/v1 by scripts/gen_protos.py. Do not edit."""
