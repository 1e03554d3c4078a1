"""What one Python file does that a reviewer should see, found with ``ast`` (never run).

The visitor resolves import aliases (``import subprocess as sp; sp.run`` is
``subprocess.run``) and reports *findings*: a rule, a severity, a line, and — for what a
manifest permission could cover — the capability used (``network``,
``filesystem.write``, ``database.read`` ...) and whether the code goes to it directly or
through the host API (``ctx.api.database.find``). ``scan`` turns findings into issues by
comparing capabilities with the manifest's permissions.

Static analysis cannot prove code safe (``getattr`` with computed names, data decoded at
run time); it makes the common dangerous moves visible and the obfuscated ones suspicious.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from ..sandbox.hostapi import DB_OPERATIONS
from ..sandbox.vfs import DataFiles

__all__ = ["Finding", "scan_python"]

Severity = str  # "low" | "medium" | "high" | "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found in one file.

    ``capability`` is set when a manifest permission decides how serious it is; then
    ``direct`` says whether the code bypasses the host API (sockets, ``open``) or asks
    the host (``ctx.api.http.post``), which checks the permission itself.
    """

    rule: str
    severity: Severity
    line: int
    detail: str
    capability: str | None = None
    direct: bool = True
    host: str | None = None


_PROCESS = ("process-execution", "critical")
_NATIVE = ("native-code", "critical")
_DESERIALIZE = ("unsafe-deserialization", "high")
_DYNAMIC = ("dynamic-code", "high")
_DYN_IMPORT = ("dynamic-import", "high")

#: Importing these is itself the finding (top-level module or dotted prefix).
MODULES: dict[str, tuple[str, Severity]] = {
    **dict.fromkeys(("subprocess", "pty", "pexpect", "sh", "plumbum"), _PROCESS),
    "multiprocessing": ("process-execution", "high"),
    **dict.fromkeys(("ctypes", "_ctypes", "cffi"), _NATIVE),
    **dict.fromkeys(
        ("pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"),
        _DESERIALIZE,
    ),
    **dict.fromkeys(("runpy", "code", "codeop", "imp"), _DYNAMIC),
    "signal": ("process-control", "medium"),
}

#: Modules whose import means talking to the network directly.
NETWORK_MODULES = frozenset(
    {
        "socket",
        "ssl",
        "socketserver",
        "http.client",
        "http.server",
        "urllib.request",
        "urllib3",
        "requests",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "telnetlib",
        "xmlrpc",
        "websocket",
        "websockets",
        "paramiko",
        "webbrowser",
    }
)

_OS_EXEC = {
    f"os.{n}"
    for n in [
        "system",
        "popen",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnv",
        "spawnve",
        "spawnvp",
        "spawnvpe",
        "fork",
        "forkpty",
        "posix_spawn",
        "posix_spawnp",
        "kill",
        "killpg",
    ]
}
_FS_WRITE = {
    *(
        f"os.{n}"
        for n in [
            "remove",
            "unlink",
            "rmdir",
            "removedirs",
            "mkdir",
            "makedirs",
            "rename",
            "renames",
            "replace",
            "chmod",
            "chown",
            "lchown",
            "link",
            "symlink",
            "truncate",
            "utime",
            "mkfifo",
            "mknod",
        ]
    ),
    *(
        f"shutil.{n}"
        for n in [
            "rmtree",
            "move",
            "copy",
            "copy2",
            "copyfile",
            "copytree",
            "copymode",
            "copystat",
            "chown",
            "make_archive",
            "unpack_archive",
        ]
    ),
}

#: Calls by qualified name → (rule, severity, capability or None).
CALLS: dict[str, tuple[str, Severity, str | None]] = {
    **{name: (*_PROCESS, None) for name in _OS_EXEC},
    **{name: ("filesystem-access", "high", "filesystem.write") for name in _FS_WRITE},
    **{name: (*_DYNAMIC, None) for name in ("eval", "exec", "compile", "builtins.eval")},
    **{
        name: (*_DYN_IMPORT, None)
        for name in (
            "__import__",
            "importlib.import_module",
            "importlib.__import__",
            "importlib.reload",
            "importlib.util.spec_from_file_location",
            "importlib.util.module_from_spec",
            "importlib.machinery.SourceFileLoader",
        )
    },
    **{
        name: ("frame-introspection", "high", None)
        for name in (
            "sys._getframe",
            "inspect.currentframe",
            "inspect.stack",
            "inspect.getouterframes",
            "inspect.trace",
        )
    },
    **{
        name: ("sandbox-escape", "critical", None)
        for name in ("gc.get_objects", "gc.get_referrers", "gc.get_referents")
    },
    **{
        name: ("unsafe-deserialization", "high", None)
        for name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load")
    },
    "os.putenv": ("environment-change", "medium", None),
    "os.unsetenv": ("environment-change", "medium", None),
    "os.getenv": ("environment-access", "low", None),
    "asyncio.open_connection": ("network-access", "high", "network"),
    "asyncio.start_server": ("network-access", "high", "network"),
}

#: Attribute names that walk from any object to the interpreter's internals.
ESCAPE_ATTRS: dict[str, Severity] = {
    **dict.fromkeys(
        (
            "__subclasses__",
            "__globals__",
            "__builtins__",
            "f_globals",
            "f_locals",
            "f_back",
            "f_builtins",
            "gi_frame",
            "cr_frame",
            "ag_frame",
            "tb_frame",
            "func_globals",
        ),
        "critical",
    ),
    **dict.fromkeys(("__code__", "__closure__", "__mro__", "__bases__", "__base__"), "high"),
}
_IMPORT_STATE = {"sys.modules", "sys.path", "sys.meta_path", "sys.path_hooks", "sys.settrace"}
_WILDCARD_RISKY = {"os", "sys", "shutil", "importlib", "inspect", "gc", "builtins", "subprocess"}
_PATH_WRITES = {
    "write_text",
    "write_bytes",
    "unlink",
    "rmdir",
    "touch",
    "symlink_to",
    "hardlink_to",
}
_PATH_READS = {"read_text", "read_bytes"}
_IMPORTERS = {"__import__", "importlib.import_module"}
_DECODERS = {
    "b64decode",
    "b32decode",
    "b85decode",
    "a85decode",
    "decompress",
    "fromhex",
    "unhexlify",
}

#: Host API operations and the permission each needs: the sandbox host's own tables, so
#: the scan and the gate never disagree.
_DB_VERBS = DB_OPERATIONS
_FILE_WRITES = frozenset(op for op, (verb, _m) in DataFiles.OPERATIONS.items() if verb == "write")

URL = re.compile(r"\b(?:https?|wss?|ftp)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?::(\d{1,5}))?")
_BASE64_BLOB = re.compile(r"^[A-Za-z0-9+/=\s]{512,}$")
SENSITIVE_PATHS = re.compile(
    r"^(?:/etc/|/root|/proc/|/sys/|/dev/|/var/run|/boot|~|/home/|/usr/|/bin/|/sbin/|C:\\)"
    r"|\.ssh|\.aws|\.netrc|id_rsa|\.bash_history"
)


def _module_rule(module: str) -> tuple[str, Severity, str | None] | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in NETWORK_MODULES:
            return ("network-access", "high", "network")
        if prefix in MODULES:
            return (*MODULES[prefix], None)
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, docstrings: set[int]) -> None:
        self.aliases: dict[str, str] = {}
        self.findings: list[Finding] = []
        self.docstrings = docstrings

    def add(
        self,
        node: ast.AST,
        rule: str,
        severity: Severity,
        detail: str,
        *,
        capability: str | None = None,
        direct: bool = True,
        host: str | None = None,
    ) -> None:
        line = getattr(node, "lineno", 0)
        self.findings.append(Finding(rule, severity, line, detail, capability, direct, host))

    # ---------------------------------------------------------------- names
    def qualname(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and self.qualname(node.func) in _IMPORTERS:
            first = node.args[0] if node.args else None  # __import__("os").system
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                return first.value
        return None

    @staticmethod
    def chain(node: ast.AST) -> list[str]:
        """Raw dotted names of an attribute chain, e.g. ``ctx.api.database.find``."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
        return parts[::-1]

    # -------------------------------------------------------------- imports
    def _imported(self, node: ast.AST, module: str) -> None:
        rule = _module_rule(module)
        if rule is not None:
            name, severity, capability = rule
            self.add(node, name, severity, f"import {module}", capability=capability)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            self._imported(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:  # the plugin's own modules
            return
        for alias in node.names:
            if alias.name == "*":
                if node.module.split(".")[0] in _WILDCARD_RISKY:
                    self.add(node, "wildcard-import", "medium", f"from {node.module} import *")
                self._imported(node, node.module)
                continue
            full = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = full
            if _module_rule(full) is not None:
                self._imported(node, full)
            else:
                self._imported(node, node.module)

    # ---------------------------------------------------------------- calls
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualname(node.func)
        if name is not None:
            self._call(node, name)
        if isinstance(node.func, ast.Attribute):
            self._method(node, node.func.attr)
            self._host_api(node, self.chain(node.func))
        self.generic_visit(node)

    def _call(self, node: ast.Call, name: str) -> None:
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) else None
        if name == "importlib.import_module" and isinstance(literal, str):
            self._imported(node, literal)  # a literal name is an ordinary import
            return
        if name == "__import__" and isinstance(literal, str):
            self._imported(node, literal)
        if name in ("open", "io.open", "builtins.open", "os.open"):
            self._open(node, literal)
            return
        if name.startswith("yaml.load") and any(
            k.arg == "Loader" and "Safe" in (self.qualname(k.value) or "") for k in node.keywords
        ):
            return
        rule = CALLS.get(name)
        if rule is None:
            return
        kind, severity, capability = rule
        if kind == "dynamic-code" and any(self._decodes(a) for a in node.args):
            self.add(node, "obfuscated-code", "critical", f"{name}() of decoded data")
            return
        detail = f"{name}()"
        if capability == "filesystem.write" and isinstance(literal, str):
            detail = f"{name}({literal!r})"
            if literal.startswith("/") or SENSITIVE_PATHS.search(literal):
                self.add(node, "write-outside", "critical", detail)
                return
        self.add(node, kind, severity, detail, capability=capability)

    def _decodes(self, node: ast.AST) -> bool:
        return any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute | ast.Name)
            and (n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id) in _DECODERS
            for n in ast.walk(node)
        )

    def _open(self, node: ast.Call, path: object) -> None:
        mode_node = node.args[1] if len(node.args) > 1 else None
        for kw in node.keywords:
            if kw.arg == "mode":
                mode_node = kw.value
        mode = mode_node.value if isinstance(mode_node, ast.Constant) else "r"
        writes = isinstance(mode, str) and any(c in mode for c in "wax+")
        detail = f"open({path!r}, {mode!r})" if isinstance(path, str) else "open(...)"
        if isinstance(path, str) and (path.startswith("/") or SENSITIVE_PATHS.search(path)):
            if writes:
                self.add(node, "write-outside", "critical", detail)
            else:
                self.add(node, "sensitive-path", "high", detail)
            return
        capability = "filesystem.write" if writes else "filesystem.read"
        self.add(node, "filesystem-access", "high", detail, capability=capability)

    def _method(self, node: ast.Call, attr: str) -> None:
        if attr in _PATH_WRITES:
            self.add(node, "filesystem-access", "high", f".{attr}()", capability="filesystem.write")
        elif attr in _PATH_READS:
            self.add(node, "filesystem-access", "high", f".{attr}()", capability="filesystem.read")

    def _host_api(self, node: ast.Call, chain: list[str]) -> None:
        at = max((i for i, part in enumerate(chain) if part == "api"), default=-1)
        if at < 0 or at + 2 >= len(chain):
            return
        service, op = chain[at + 1], chain[at + 2]
        capability = None
        host = None
        if service == "database":
            capability = next(
                (f"database.{verb}" for verb, ops in _DB_VERBS.items() if op in ops), None
            )
        elif service == "events" and op in ("publish", "emit"):
            capability = "events.publish"
        elif service == "events" and op in ("subscribe", "on"):
            capability = "events.subscribe"
        elif service == "files":
            capability = "filesystem.write" if op in _FILE_WRITES else "filesystem.read"
        elif service == "http":
            capability = "network"
            url = node.args[0] if node.args else None
            if isinstance(url, ast.Constant) and isinstance(url.value, str):
                match = URL.search(url.value)
                host = match.group(1) if match else None
        if capability is not None:
            self.add(
                node,
                "host-api",
                "low",
                f"api.{service}.{op}()",
                capability=capability,
                direct=False,
                host=host,
            )

    # --------------------------------------------------------- attributes
    def visit_Attribute(self, node: ast.Attribute) -> None:
        severity = ESCAPE_ATTRS.get(node.attr)
        if severity is not None:
            self.add(node, "sandbox-escape", severity, f".{node.attr}")
        name = self.qualname(node)
        if name in _IMPORT_STATE:
            self.add(node, "import-tampering", "medium", name)
        elif name == "os.environ":
            self.add(node, "environment-access", "low", name)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.add(node, "sandbox-escape", "critical", "__builtins__")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            name = self.qualname(target) if isinstance(target, ast.Attribute) else None
            if name and name.split(".")[0] == "builtins":
                self.add(node, "builtins-tampering", "critical", f"{name} = ...")
        self.generic_visit(node)

    # ------------------------------------------------------------ strings
    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.docstrings:
            return
        text = node.value
        if text in ESCAPE_ATTRS and ESCAPE_ATTRS[text] == "critical":
            self.add(node, "obfuscated-access", "critical", f"string {text!r}")
        for match in URL.finditer(text):
            host = match.group(1).strip("[]").lower()
            port = match.group(2)
            self.add(
                node,
                "network-host",
                "medium",
                match.group(0),
                capability="network",
                host=f"{host}:{port}" if port else host,
            )
        if _BASE64_BLOB.match(text):
            self.add(node, "obfuscated-payload", "medium", f"{len(text)}-character encoded blob")


def _docstrings(tree: ast.Module) -> set[int]:
    """Ids of string-statement nodes (docstrings and bare strings): prose, not data."""
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out.add(id(node.value))
    return out


def scan_python(source: str, filename: str) -> list[Finding]:
    """Findings of one Python file; ``SyntaxError`` propagates (the caller reports it)."""
    tree = ast.parse(source, filename=filename)
    visitor = _Visitor(_docstrings(tree))
    visitor.visit(tree)
    unique = dict.fromkeys(visitor.findings)
    return list(unique)
