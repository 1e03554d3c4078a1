"""The subcommand router behind ``%pliers``: a table of commands, argparse that raises
instead of exiting, and engine errors turned into one-line ``UsageError``s.

Commands register with ``@command`` (see :mod:`.commands`); each gets a parser built
from its ``arg(...)`` specs, so ``%pliers load --help`` prints that command's help.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError

from ..errors import PliersError

if TYPE_CHECKING:
    from ..engine import Engine
    from .magics import PliersMagics

__all__ = ["COMMANDS", "Call", "Command", "arg", "command", "dispatch", "one_line"]


class _HelpShown(Exception):
    """``--help`` printed its text; the command does not run."""


class Parser(argparse.ArgumentParser):
    """argparse for magics: errors raise ``UsageError``, ``--help`` prints and returns."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message)
        raise _HelpShown


Spec = tuple[tuple[str, ...], dict[str, Any]]


def arg(*flags: str, **kwargs: Any) -> Spec:
    """An ``add_argument`` call, recorded for the command's parser."""
    return flags, kwargs


@dataclass(frozen=True)
class Call:
    """What a command handler receives."""

    magics: PliersMagics
    args: argparse.Namespace
    payload: str | None
    """The raw payload text (a JSON tail of the line, or the cell body)."""
    cell: str | None

    @property
    def engine(self) -> Engine:
        from ._default import default_engine

        return default_engine()

    @property
    def shell(self) -> Any:
        return self.magics.shell


@dataclass(frozen=True)
class Command:
    """One ``%pliers`` subcommand."""

    name: str
    summary: str
    handler: Callable[[Call], Any]
    specs: tuple[Spec, ...] = ()
    payload: bool = False
    """Whether the line may end in a payload (``{...}``, ``[...]``, ``@file``, ``$var``)."""
    cell: str | None = None
    """What a ``%%pliers`` cell body means for this command (None: no cell allowed)."""
    description: str = field(default="")

    def parser(self) -> Parser:
        parser = Parser(
            prog=f"%pliers {self.name}",
            description=self.description or self.summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for flags, kwargs in self.specs:
            parser.add_argument(*flags, **kwargs)
        return parser


COMMANDS: dict[str, Command] = {}


def command(
    name: str, summary: str, *specs: Spec, payload: bool = False, cell: str | None = None
) -> Callable[[Callable[[Call], Any]], Callable[[Call], Any]]:
    """Register the decorated function as subcommand ``name``; its docstring is the help."""

    def register(fn: Callable[[Call], Any]) -> Callable[[Call], Any]:
        description = summary
        if fn.__doc__:
            description = fn.__doc__.strip()
        if cell:
            description += f"\n\nCell form: %%pliers {name} ... with the cell as {cell}."
        COMMANDS[name] = Command(name, summary, fn, specs, payload, cell, description)
        return fn

    return register


def one_line(exc: BaseException) -> str:
    """An error's message on one line: a header and its listed problems joined by ``;``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    head, rest = lines[0], lines[1:]
    return f"{head} {'; '.join(rest)}" if rest else head


_PAYLOAD_START = re.compile(r"(?:^|\s)(['\"]?[\[{]|[@$])")


def split_payload(text: str) -> tuple[str, str | None]:
    """``'HOOK --user u {"a": 1}'`` → ``('HOOK --user u', '{"a": 1}')``."""
    match = _PAYLOAD_START.search(text)
    if match is None:
        return text, None
    return text[: match.start(1)], text[match.start(1) :].strip()


def overview() -> str:
    """The list of subcommands, for ``%pliers`` / ``%pliers --help``."""
    width = max(map(len, COMMANDS))
    lines = ["%pliers SUBCOMMAND [ARGS]   (each subcommand takes --help)", ""]
    lines += [f"  {name:<{width}}  {cmd.summary}" for name, cmd in sorted(COMMANDS.items())]
    lines += ["", "Settings: %config PliersMagics   Engine: pliers_lab.lab.default_engine()"]
    return "\n".join(lines)


def _unknown(name: str) -> UsageError:
    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(
        f"%pliers: unknown subcommand {name!r}{hint}; valid: {', '.join(sorted(COMMANDS))}"
    )


_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def _expand(token: str, magics: PliersMagics) -> str:
    """``$name`` as a whole argument is the notebook variable's value (IPython's own
    expansion is off for this magic: it would turn a ``$payload`` dict into Python text)."""
    match = _NAME.match(token)
    if match is None:
        return token
    namespace = magics.shell.user_ns if magics.shell is not None else {}
    if match.group(1) not in namespace:
        raise UsageError(f"{token}: no variable {match.group(1)!r} in the notebook")
    return str(namespace[match.group(1)])


def dispatch(magics: PliersMagics, line: str, cell: str | None) -> Any:
    """Parse ``line`` (and ``cell``), run the subcommand, translate engine errors."""
    name, _, rest = line.strip().partition(" ")
    if name in ("", "-h", "--help", "help") and not rest.strip():
        print(overview())
        return None
    if name == "help":
        name, rest = rest.strip(), "--help"
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise _unknown(name)
    if cell is not None and cmd.cell is None:
        raise UsageError(f"%%pliers {name} takes no cell body; use the line form %pliers {name}")
    payload = None
    if cmd.payload:
        rest, payload = split_payload(rest)
    try:
        argv = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"%pliers {name}: cannot split the arguments: {exc}") from None
    argv = [_expand(token, magics) for token in argv]
    try:
        args = cmd.parser().parse_args(argv)
    except _HelpShown:
        return None
    if payload is not None and cell is not None and cell.strip():
        raise UsageError(f"%%pliers {name}: give the payload on the line or in the cell, not both")
    try:
        return cmd.handler(Call(magics, args, payload, cell))
    except UsageError:
        raise
    except PliersError as exc:
        if magics.tracebacks:
            raise
        raise UsageError(one_line(exc)) from None
