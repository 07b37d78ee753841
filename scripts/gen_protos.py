"""Regenerates generated/ from protos/ with the pinned toolchain (grpcio-tools, mypy-protobuf)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import google.api
import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "generated"
PACKAGE = OUT / "agentsessions" / "v1"

INIT = '''"""Generated from protos/agentsessions/v1 by scripts/gen_protos.py. Do not edit."""
'''


def main() -> int:
    # The Google protos come from installed packages, never the network.
    googleapis = Path(google.api.__path__[0]).parent.parent
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    if PACKAGE.exists():
        shutil.rmtree(PACKAGE)
    PACKAGE.mkdir(parents=True)
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{googleapis}",
        f"-I{well_known}",
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    ]
    # protoc finds the mypy plugins on PATH; they sit beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    code = protoc.main(args)
    if code != 0:
        return int(code)
    (PACKAGE / "__init__.py").write_text(INIT)
    (PACKAGE / "py.typed").write_text("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
