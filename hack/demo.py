#!/usr/bin/env python3
"""``make demo``: the AWS machine controller on a local control plane, a local EC2 and simulated
kubelets. See `mcm_provider_aws.demo` (``--help`` for the options, ``--exit-when-ready`` for CI)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages

from mcm_provider_aws.demo import main  # noqa: E402

if __name__ == "__main__":
    main(prog_name="hack/demo.py")
