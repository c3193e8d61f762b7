"""Read a scenario file: render its parameters, parse the YAML, validate every field.

All problems are reported at once, each prefixed with its path in the file, for example
`steps[1].mpijob.workers: must be greater than 0`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ScenarioError
from harness.scenario.models import Scenario


def load_scenario(path: str | Path, params: dict[str, str] | None = None) -> tuple[Scenario, str]:
    """Return the validated scenario and the SHA-256 of its rendered text."""
    path = Path(path)
    source = _read(path)
    rendered = _render(path, source, params or {})
    document = _parse_yaml(path, rendered)
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as error:
        raise ScenarioError(str(path), [_describe(item) for item in error.errors()]) from None
    return scenario, hashlib.sha256(rendered.encode()).hexdigest()


def _read(path: Path) -> str:
    if not path.exists():
        hint = "list the bundled scenarios with `ls scenarios/`"
        raise ScenarioError(str(path), ["file not found"], hint=hint)
    if path.is_dir():
        raise ScenarioError(str(path), ["is a directory, not a scenario file"])
    return path.read_text()


def _render(path: Path, source: str, params: dict[str, str]) -> str:
    # Scenario files may use Jinja2 expressions such as `{{ workers | default(128) }}`; values
    # come from `--param NAME=VALUE`.
    # The loader lets a scenario include shared fragments that sit beside it.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(path.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    try:
        template_ast = environment.parse(source)
    except jinja2.TemplateSyntaxError as error:
        raise ScenarioError(
            str(path), [f"line {error.lineno}: template syntax error: {error.message}"]
        ) from None
    declared = jinja2.meta.find_undeclared_variables(template_ast)
    unknown = sorted(set(params) - declared)
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise ScenarioError(
            str(path),
            [
                f"--param {name}: this scenario has no such parameter (parameters: {allowed})"
                for name in unknown
            ],
        )
    values = {name: yaml.safe_load(value) for name, value in params.items()}
    try:
        return environment.from_string(source).render(**values)
    except jinja2.UndefinedError as error:
        raise ScenarioError(
            str(path), [f"template: {error.message}; pass it with --param"]
        ) from None
    except jinja2.TemplateNotFound as error:
        raise ScenarioError(
            str(path), [f"template: included file {error.name} not found beside the scenario"]
        ) from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ScenarioError(str(path), [f"{where}YAML syntax error: {problem}"]) from None
    if not isinstance(document, dict):
        raise ScenarioError(
            str(path), ["the file must contain a mapping with at least `name` and `steps`"]
        )
    return document


def _describe(error: dict[str, Any]) -> str:
    location = _format_location(error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = _allowed_fields(error["loc"][:-1])
        suffix = f"; allowed fields: {', '.join(allowed)}" if allowed else ""
        return f"{location}: unknown field{suffix}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required field is missing"
    return f"{location}: {message}" if location else message


def _format_location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_of(argument)
        if found:
            return found
    return None
