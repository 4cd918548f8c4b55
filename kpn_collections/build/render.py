"""Render stage: Jinja2 renders script and description text (never JSON), from overridable
templates.

Templates ship inside the package; `--templates DIR` puts a user directory first, so any single
template can be replaced by a file of the same name. Every value put into a script goes through
`tojson`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import posixpath
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.loaders import split_template_path

from ..diagnostics import Diagnostic, Severity
from ..files import read_limited


def package_templates_dir() -> Path:
    """Where the packaged templates are: inside the installed package, or `templates/` in a source
    checkout."""
    packaged = Path(str(resources.files("kpn_collections"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def md_cell(value: Any) -> str:
    """Make text safe for one Markdown table cell."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


def md_text(value: Any) -> str:
    """Text on one line with Markdown's markup characters escaped: a name shows as written, never as
    a link."""
    return re.sub(
        r"([\\`*_\[\]<>|~!#])", r"\\\1", " ".join(("" if value is None else str(value)).split())
    )


def md_code(value: Any) -> str:
    """Text on one line as a Markdown code span, fenced by more backticks than it contains."""
    text = " ".join(("" if value is None else str(value)).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_url(value: Any) -> str:
    """A web address as a Markdown autolink when it is a plain http(s) URL, else as a code span."""
    text = "" if value is None else str(value).strip()
    if re.fullmatch(r"https?://[^\s<>`\\\"']+", text, re.IGNORECASE):
        return f"<{text}>"
    return md_code(text)


class TemplateProblem(Exception):
    """A user template that does not render; carries a diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


_TEMPLATE_FAILURES = (jinja2.TemplateError, OSError, UnicodeDecodeError)


MAX_TEMPLATE_BYTES = 10 * 1024 * 1024
"""Largest user template read."""


class _BoundedLoader(jinja2.FileSystemLoader):
    """The user's templates folder, read like any input: a template there that is a FIFO, a device
    or bigger than MAX_TEMPLATE_BYTES is an error when used (OSError), never a hang or a silent
    fallback; one whose real path (symbolic links followed) leaves the folder is an error too, so a
    templates folder from a pull request cannot pull a file of the machine into a collection."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for searchpath in self.searchpath:
            filename = posixpath.join(searchpath, *pieces)
            if os.path.exists(filename) and not os.path.isdir(filename):
                if not Path(filename).resolve().is_relative_to(Path(searchpath).resolve()):
                    raise _OutsideFolder(
                        0, f"it leads outside the templates folder {searchpath}", filename
                    )
                text = read_limited(filename, MAX_TEMPLATE_BYTES).decode(self.encoding)
                mtime = os.path.getmtime(filename)
                return (
                    text,
                    os.path.normpath(filename),
                    functools.partial(_unchanged, filename, mtime),
                )
        return super().get_source(environment, template)


class _OutsideFolder(OSError):
    """A user template that is a symbolic link out of its folder (reported as a template that cannot
    be read)."""

    def __str__(self) -> str:
        return str(self.strerror)


def _unchanged(filename: str, mtime: float) -> bool:
    try:
        return os.path.getmtime(filename) == mtime
    except OSError:
        return False


@functools.lru_cache(maxsize=8)
def _environment(user_dir: str | None) -> jinja2.Environment:
    """The packaged templates run in a plain environment; a user's folder (which a settings file in
    a pull request can name) in Jinja2's immutable sandbox: a template can format the values it is
    given, but cannot reach Python's internals through them (`{{ cycler.__init__.__globals__ }}`) to
    run code or change data."""
    loaders: list[jinja2.BaseLoader] = []
    if user_dir:
        loaders.append(_BoundedLoader(user_dir))
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
    environment.policies["json.dumps_kwargs"] = {
        "sort_keys": False
    }  # `tojson` keeps keys in the order given
    environment.filters["md_cell"] = md_cell
    environment.filters["md_text"] = md_text
    environment.filters["md_code"] = md_code
    environment.filters["md_url"] = md_url
    return environment


def prepare(user_dir: Path | None = None) -> None:
    """Compile every template once (a batch does this before forking its workers, which then share
    them). Only a head start: a template that does not compile or cannot be read (a folder, a file
    in another encoding, one the user may not read), or a templates folder that cannot be listed, is
    left for the conversion that uses it to report; one no conversion uses is never a problem."""
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
        self.templates: dict[
            str, jinja2.Template
        ] = {}  # looked up (a file stat each) once per conversion

    def render(self, name: str, **context: Any) -> str:
        """Render one template; a broken user template becomes a TemplateProblem, not a
        traceback."""
        try:
            template = self.templates.get(name)
            if template is None:
                template = self.templates[name] = self.environment.get_template(name)
            return template.render(**context)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "filename", None) or name
            line = getattr(exc, "lineno", None)
            raise _template_problem(
                where,
                f"template {name!r} failed: {exc}",
                "check the template against the documented context in templates/README.md",
                line=line,
            ) from None
        # a template file that is not readable UTF-8 text
        except (OSError, UnicodeDecodeError) as exc:
            where = getattr(exc, "filename", None) or self._source_path(name) or name
            raise _template_problem(
                where,
                f"template {name!r} cannot be read: {exc}",
                "templates are UTF-8 text files the user running the conversion may read",
            ) from None

    def _source_path(self, name: str) -> str | None:
        """The file `name` is loaded from: the user's folder first, then the packaged templates."""
        for folder in (self.user_dir, str(package_templates_dir())):
            if folder and (Path(folder) / name).exists():
                return str(Path(folder) / name)
        return None


def _template_problem(
    where: Any, message: str, hint: str, *, line: int | None = None
) -> TemplateProblem:
    """A template that failed, as the error the conversion reports at the template's file."""
    return TemplateProblem(
        Diagnostic(Severity.ERROR, "template-error", message, file=str(where), line=line, hint=hint)
    )
