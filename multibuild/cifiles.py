"""Read the CI definitions: the variables they carry (BUILD_COMMIT, REPO_DIR, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from multibuild import MultibuildError

AZURE_FILE = "azure-pipelines.yml"


def load_yaml(path: Path) -> Any:
    """Round-trip load (comments and positions kept); a parse error names file and line."""
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise MultibuildError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise MultibuildError(f"cannot read {path}: {exc.strerror}") from None


def azure_variables(root: Path) -> dict[str, str]:
    """Top-level ``variables`` of azure-pipelines.yml (mapping or name/value list form)."""
    path = root / AZURE_FILE
    if not path.is_file():
        return {}
    data = load_yaml(path) or {}
    variables = data.get("variables") or {}
    if isinstance(variables, list):
        return {
            str(item["name"]): str(item.get("value", ""))
            for item in variables
            if isinstance(item, dict) and "name" in item
        }
    return {str(k): str(v) for k, v in variables.items()}
