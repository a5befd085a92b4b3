"""The committed generated code must match what `make proto` makes from protos/."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def differences(left: Path, right: Path) -> list[str]:
    found: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(f"{prefix}{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=["__pycache__"]), "fitmesh/")
    return found


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "protogen.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    stale = differences(ROOT / "fitmesh", tmp_path / "fitmesh")
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_freshness_check_notices_a_changed_file(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "protogen.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    target = tmp_path / "fitmesh" / "scoring" / "v1" / "scoring_pb2.pyi"
    target.write_text(target.read_text() + "\n# edited by hand\n")
    assert differences(ROOT / "fitmesh", tmp_path / "fitmesh") == [
        "fitmesh/scoring/v1/scoring_pb2.pyi"
    ]
