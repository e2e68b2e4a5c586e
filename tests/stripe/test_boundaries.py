"""DESIGN.md section 6: one module talks to Stripe. Keep it that way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "billingsite", "invoicing", "metering", "disputes", "revenue")
GATEWAY = ROOT / "invoicing" / "stripe" / "gateway.py"


def imports_stripe_sdk(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            alias.name == "stripe" or alias.name.startswith("stripe.") for alias in node.names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and (node.module == "stripe" or node.module.startswith("stripe."))
        ):
            return True
    return False


def test_only_the_gateway_imports_the_stripe_sdk() -> None:
    sources = [p for app in APPS for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]
    offenders = [
        str(p.relative_to(ROOT)) for p in sources if p != GATEWAY and imports_stripe_sdk(p)
    ]
    assert imports_stripe_sdk(GATEWAY)
    assert offenders == []


def test_verifying_a_webhook_does_not_load_the_sdk() -> None:
    """The webhook view verifies signatures on every delivery; keep that path light."""
    code = (
        "import sys; import invoicing.stripe.signatures, invoicing.stripe.events; "
        "print('stripe' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
