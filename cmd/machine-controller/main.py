#!/usr/bin/env python3
"""Launcher of the ``machine-controller`` binary (the AWS provider), where upstream keeps its main.

``python cmd/machine-controller/main.py --help`` runs `mcm_provider_aws.cli.main`, the same
command as the ``machine-controller`` console script and ``python -m mcm_provider_aws.cli``. The
package is found where it is installed (``make venv`` installs this checkout in editable mode);
from a checkout that is not installed, the repository root is put on the path first.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from mcm_provider_aws.cli import main
except ImportError:  # not installed: run from the checkout this file lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from mcm_provider_aws.cli import main

if __name__ == "__main__":
    main(prog_name="machine-controller")
