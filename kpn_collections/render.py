"""Render stage: Jinja2 renders script and description text (never JSON), from overridable templates.

Templates ship inside the package; `--templates DIR` puts a user directory first, so any single template
can be replaced by a file of the same name. Every value put into a script goes through `tojson`.
"""

from __future__ import annotations

import contextlib
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from .diagnostics import Diagnostic, Severity


def package_templates_dir() -> Path:
    """Where the packaged templates are: inside the installed package, or `templates/` in a source checkout."""
    packaged = Path(str(resources.files("kpn_collections"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def md_cell(value: Any) -> str:
    """Make text safe for one Markdown table cell."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


class TemplateProblem(Exception):
    """A user template that does not render; carries a diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


_TEMPLATE_FAILURES = (jinja2.TemplateError, OSError, UnicodeDecodeError)


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A user's templates folder: a template whose real path (symbolic links followed) leaves the folder is
    not read, so a templates folder from a pull request cannot pull a file of the machine into a collection."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        root = Path(self.searchpath[0]).resolve()
        if not Path(filename).resolve().is_relative_to(root):
            raise jinja2.TemplateNotFound(template, f"{filename} leads outside the templates folder {root}")
        return source, filename, uptodate


@functools.lru_cache(maxsize=8)
def _environment(user_dir: str | None) -> jinja2.Environment:
    """The packaged templates run in a plain environment; a user's folder (which a settings file in a pull
    request can name) in Jinja2's immutable sandbox: a template can format the values it is given, but cannot
    reach Python's internals through them (`{{ cycler.__init__.__globals__ }}`) to run code or change data."""
    loaders: list[jinja2.BaseLoader] = []
    if user_dir:
        loaders.append(_ConfinedLoader(user_dir))
    loaders.append(jinja2.FileSystemLoader(str(package_templates_dir())))
    kind = jinja2.sandbox.ImmutableSandboxedEnvironment if user_dir else jinja2.Environment
    environment = kind(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md_cell"] = md_cell
    return environment


def prepare(user_dir: Path | None = None) -> None:
    """Compile every template once (a batch does this before forking its workers, which then share them).
    Only a head start: a template that does not compile or cannot be read (a folder, a file in another encoding,
    one the user may not read), or a templates folder that cannot be listed, is left for the conversion that
    uses it to report; one no conversion uses is never a problem."""
    environment = _environment(str(user_dir) if user_dir else None)
    with contextlib.suppress(*_TEMPLATE_FAILURES):
        names = environment.list_templates(filter_func=lambda name: name.endswith(".jinja"))
        for name in names:
            with contextlib.suppress(*_TEMPLATE_FAILURES):
                environment.get_template(name)


class Renderer:
    """Renders named templates with a context; one per conversion."""

    def __init__(self, user_dir: Path | None = None):
        self.user_dir = str(user_dir) if user_dir else None
        self.environment = _environment(self.user_dir)
        self.templates: dict[str, jinja2.Template] = {}  # looked up (a file stat each) once per conversion

    def render(self, name: str, **context: Any) -> str:
        """Render one template; a broken user template becomes a TemplateProblem, not a traceback."""
        try:
            template = self.templates.get(name)
            if template is None:
                template = self.templates[name] = self.environment.get_template(name)
            return template.render(**context)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "filename", None) or name
            line = getattr(exc, "lineno", None)
            raise TemplateProblem(Diagnostic(
                Severity.ERROR, "template-error", f"template {name!r} failed: {exc}", str(where), "", line, None,
                "check the template against the documented context in templates/README.md",
            )) from None
        except (OSError, UnicodeDecodeError) as exc:  # a template file that is not readable UTF-8 text
            where = getattr(exc, "filename", None) or self._source_path(name) or name
            raise TemplateProblem(Diagnostic(
                Severity.ERROR, "template-error", f"template {name!r} cannot be read: {exc}", str(where), "", None,
                None, "templates are UTF-8 text files the user running the conversion may read",
            )) from None

    def _source_path(self, name: str) -> str | None:
        """The file `name` is loaded from: the user's folder first, then the packaged templates."""
        for folder in (self.user_dir, str(package_templates_dir())):
            if folder and (Path(folder) / name).exists():
                return str(Path(folder) / name)
        return None
