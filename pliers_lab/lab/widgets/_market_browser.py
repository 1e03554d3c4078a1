"""The marketplace browser: search, filter and sort a registry; look at one plugin (its
versions, permissions, scan findings and signature); install, update, roll back or
uninstall it, with the permission diff shown before an update is accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as w

from ...errors import PliersError
from ...market.install import STEPS
from ...market.query import CATEGORIES, MarketplaceQuery
from ...market.refusals import MarketError
from ...market.results import PermissionDiff, diff_permissions
from .._displays import badge, esc, table_html
from ._common import engine_or_default, message, panel

if TYPE_CHECKING:
    from ...engine import Engine
    from ...manifest import Permissions
    from ...market import (
        InstalledPlugin,
        InstallResult,
        PluginMarketplace,
        PluginRecord,
        SearchResult,
        UninstallResult,
        UpdatePlan,
        UpdateResult,
        VersionRecord,
    )

__all__ = ["MarketplaceBrowser"]

T = TypeVar("T")

#: What the sort dropdown offers: label → ``MarketplaceQuery.sort_by`` ("" = the
#: default: relevance with a text query, name without).
SORT_CHOICES = (
    ("best match", ""),
    ("name", "name"),
    ("most downloaded", "downloads"),
    ("best rated", "rating"),
    ("recently updated", "updated"),
)
_SIGNATURE_COLOURS = {
    "verified": "#2e7d32",
    "untrusted": "#ef6c00",
    "unsigned": "#ef6c00",
    "invalid": "#c62828",
}
_SEVERITY_COLOURS = {
    "critical": "#b71c1c",
    "high": "#c62828",
    "medium": "#ef6c00",
    "low": "#757575",
    "info": "#555",
}
_AUTO = {"width": "auto"}
#: What a user's mistake or a refusal can raise; anything else is a bug and propagates.
_REFUSALS = (PliersError, ValueError, OSError)


def one_line(exc: BaseException) -> str:
    """An error's message on one line (the market's conflict lists span several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0]
    for line in lines[1:]:
        text += (" " if text.endswith(":") else "; ") + line
    return text


def _rows_text(rows: tuple[tuple[str, str, str], ...]) -> str:
    return PermissionDiff.text(rows) or "none"


class MarketplaceBrowser(w.VBox):  # type: ignore[misc]
    """A registry's plugins in the lab, and the store's install / update / rollback /
    uninstall behind buttons.

    Search, category, sort and "verified only" filter the listing (``results``: a table
    of CSS class ``pliers-market-results``, a row per plugin with ``data-plugin``). The
    ``plugin`` dropdown picks one; ``details`` shows the version picked in ``version``
    (newest by default): its signature, verified now against the store's trusted keys
    (``pliers-market-signature``, ``data-status``), its scan findings
    (``pliers-market-scan``), its permissions beside the installed version's
    (``pliers-market-permissions``) and every version (``pliers-market-versions``).

    Update does not update: it works out the update (``PluginMarketplace.plan_update``)
    and shows it in ``prompt`` — the permissions the new version adds and drops
    (``pliers-permission-diff``, rows ``data-change="added"``/``"removed"``), the
    release notes — until Accept or Cancel. Installs and updates report their steps
    (download, verify, scan, install, start) in ``progress`` and ``step``; every refusal
    is one line in ``message`` naming the plugin and version.

    Attributes:
        query, category, sort, verified: the search inputs.
        search_button: runs the search (so do Enter in ``query`` and the other inputs).
        plugin, version: what to look at and act on ("" in ``version``: the newest).
        allow_unsigned, allow_unsafe: consent to an unsigned or untrusted bundle, or to
            one that failed the security scan (off: the store refuses them).
        install_button, update_button, rollback_button, uninstall_button: actions.
        prompt: the pending update (hidden when none), with ``prompt_html``,
            ``accept_button`` and ``cancel_button``.
        summary, results, details, message, step: HTML outputs; ``progress`` the bar.
        found: the last ``SearchResult``; pending: the ``UpdatePlan`` awaiting Accept;
        steps: ``(step, detail)`` reported by the last install or update; last: what
        the last action returned.
    """

    def __init__(
        self,
        marketplace: PluginMarketplace,
        engine: Engine | None = None,
        *,
        query: str = "",
        limit: int = 50,
    ) -> None:
        self.market = marketplace
        self.engine = engine_or_default(engine if engine is not None else marketplace.engine)
        self.limit = limit
        self.found: SearchResult | None = None
        self.pending: UpdatePlan | None = None
        self.steps: list[tuple[str, str]] = []
        self.last: Any = None
        self._signatures: dict[tuple[str, str, tuple[str, ...]], tuple[str, str]] = {}
        self._quiet = False

        self.query = w.Text(
            value=query,
            description="search",
            placeholder="words in the name, description or keywords",
            continuous_update=False,
            layout=w.Layout(width="28em"),
        )
        self.category = w.Dropdown(
            description="category",
            options=[("any", ""), *((title, str(cid)) for cid, (title, _) in CATEGORIES.items())],
            value="",
        )
        self.sort = w.Dropdown(description="sort", options=SORT_CHOICES, value="")
        self.verified = w.Checkbox(
            description="verified only", value=False, indent=False, layout=_AUTO
        )
        self.search_button = w.Button(description="Search", icon="search", button_style="primary")
        self.summary = w.HTML()
        self.results = w.HTML()
        self.plugin = w.Dropdown(description="plugin", layout=w.Layout(width="24em"))
        self.version = w.Dropdown(description="version", options=[("newest", "")], value="")
        self.details = w.HTML()
        self.allow_unsigned = w.Checkbox(
            description="allow unsigned", value=False, indent=False, layout=_AUTO
        )
        self.allow_unsafe = w.Checkbox(
            description="allow unsafe", value=False, indent=False, layout=_AUTO
        )
        self.install_button = w.Button(description="Install", icon="download")
        self.update_button = w.Button(description="Update", icon="arrow-up")
        self.rollback_button = w.Button(description="Rollback", icon="undo")
        self.uninstall_button = w.Button(description="Uninstall", icon="trash")
        self.progress = w.IntProgress(
            min=0, max=len(STEPS) + 1, value=0, layout=w.Layout(width="16em", display="none")
        )
        self.step = w.HTML()
        self.prompt_html = w.HTML()
        self.accept_button = w.Button(
            description="Accept and update",
            icon="check",
            button_style="warning",
            layout=w.Layout(width="auto"),
        )
        self.cancel_button = w.Button(description="Cancel", icon="times")
        self.prompt = w.VBox(
            [self.prompt_html, w.HBox([self.accept_button, self.cancel_button])],
            layout=w.Layout(display="none"),
        )
        self.message = w.HTML()
        for part, css in (
            (self.query, "pliers-market-query"),
            (self.category, "pliers-market-category"),
            (self.sort, "pliers-market-sort"),
            (self.plugin, "pliers-market-plugin"),
            (self.version, "pliers-market-version"),
            (self.prompt, "pliers-market-prompt"),
            (self.progress, "pliers-market-progress"),
            (self.message, "pliers-market-message"),
        ):
            part.add_class(css)

        for control in (self.query, self.category, self.sort, self.verified):
            control.observe(lambda _change: self.search(), "value")
        self.search_button.on_click(lambda _b: self.search())
        self.plugin.observe(self._on_plugin, "value")
        self.version.observe(lambda _change: self._on_version(), "value")
        self.install_button.on_click(lambda _b: self.install())
        self.update_button.on_click(lambda _b: self.update())
        self.accept_button.on_click(lambda _b: self.accept())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.rollback_button.on_click(lambda _b: self.rollback())
        self.uninstall_button.on_click(lambda _b: self.uninstall())
        super().__init__(
            [
                w.HBox([self.query, self.search_button]),
                w.HBox([self.category, self.sort, self.verified]),
                self.summary,
                self.results,
                w.HBox([self.plugin, self.version]),
                self.details,
                w.HBox(
                    [
                        self.install_button,
                        self.update_button,
                        self.rollback_button,
                        self.uninstall_button,
                        self.allow_unsigned,
                        self.allow_unsafe,
                    ]
                ),
                w.HBox([self.progress, self.step]),
                self.prompt,
                self.message,
            ]
        )
        self.add_class("pliers-marketplace")
        self.search()

    # ------------------------------------------------------------------ search
    def search(self) -> SearchResult | None:
        """List the registry's plugins matching the inputs; keep the selected plugin
        when it still matches."""
        try:
            found = self.market.search(
                MarketplaceQuery(
                    query=self.query.value.strip() or None,
                    category=self.category.value or None,
                    verified=True if self.verified.value else None,
                    sort_by=self.sort.value or None,
                    limit=self.limit,
                )
            )
        except _REFUSALS as exc:
            self.summary.value = message("error", f"search refused: {one_line(exc)}")
            return None
        self.found = found
        installed = self.market.store.installed()
        shown = len(found.listings)
        more = f", the first {shown} shown" if found.has_more else ""
        self.summary.value = message(
            "info", f"{found.total} plugin{'s' if found.total != 1 else ''} found{more}"
        )
        self._draw_results(installed)
        ids = [item.id for item in found]
        current = self.plugin.value
        self._quiet = True
        try:
            self.plugin.options = ids
            self.plugin.value = current if current in ids else (ids[0] if ids else None)
        finally:
            self._quiet = False
        self.show()
        return found

    def _draw_results(self, installed: dict[str, InstalledPlugin]) -> None:
        assert self.found is not None
        rows, attrs = [], []
        for item in self.found:
            have = installed.get(item.id)
            mark = " " + badge("verified", "#1565c0") if item.verified else ""
            rows.append(
                (
                    f"<b>{esc(item.id)}</b>{mark}",
                    esc(item.version),
                    esc(item.description),
                    esc(CATEGORIES[item.category][0] if item.category in CATEGORIES else ""),
                    str(item.downloads),
                    f"{item.rating:.1f} ({item.rating_count})",
                    str(item.security_score),
                    esc(have.version) if have else "",
                )
            )
            attrs.append({"data-plugin": item.id, "data-installed": have.version if have else ""})
        self.results.value = panel(
            table_html(
                (
                    "plugin",
                    "version",
                    "description",
                    "category",
                    "downloads",
                    "rating",
                    "security",
                    "installed",
                ),
                rows,
                "pliers-market-results",
                attrs,
                numeric=("downloads", "security"),
            )
        )

    # ------------------------------------------------------------------ details
    def _on_plugin(self, _change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self.pending is not None and self.pending.plugin_id != self.plugin.value:
            self._close_prompt()
        self.show(reset_version=True)

    def _on_version(self) -> None:
        if not self._quiet:
            self.show()

    def selected(self) -> PluginRecord | None:
        """The registry's record of the selected plugin (None when nothing is selected
        or it left the registry)."""
        pid = self.plugin.value
        if not pid:
            return None
        try:
            return self.market.registry.plugin(pid)
        except MarketError:
            return None

    def show(self, *, reset_version: bool = False) -> None:
        """Redraw the selected plugin's details and which actions apply to it."""
        record = self.selected()
        installed = self.market.store.installed().get(record.name) if record else None
        self._buttons(installed, record is not None)
        if record is None:
            self.details.value = message("info", "no plugin selected: search the registry")
            self._quiet = True
            self.version.options = [("newest", "")]
            self._quiet = False
            return
        latest = record.latest
        wanted = "" if reset_version else self.version.value
        options = [(f"newest ({latest.version})" if latest else "newest", "")]
        tags_of: dict[str, list[str]] = {}
        for tag, version in record.tags.items():
            tags_of.setdefault(version, []).append(tag)
        for v in record.versions:
            tags = f" ({', '.join(sorted(tags_of[v.version]))})" if v.version in tags_of else ""
            options.append((f"{v.version}{tags}", v.version))
        self._quiet = True
        try:
            self.version.options = options
            self.version.value = wanted if wanted in {o[1] for o in options} else ""
        finally:
            self._quiet = False
        chosen = record.get(self.version.value) or latest
        if chosen is None:
            self.details.value = message("info", f"{record.name} has no published version")
            return
        self.details.value = panel(
            self._header(record, chosen, installed)
            + self._signature(chosen)
            + self._scan(chosen)
            + self._permissions(chosen, installed)
            + self._versions(record, installed, tags_of),
            "pliers-market-details",
        )

    def _buttons(self, installed: InstalledPlugin | None, selected: bool) -> None:
        self.install_button.disabled = not selected or installed is not None
        self.update_button.disabled = installed is None
        self.uninstall_button.disabled = installed is None
        self.rollback_button.disabled = installed is None or (
            installed.previous_version not in installed.versions
        )

    def _header(
        self, record: PluginRecord, chosen: VersionRecord, installed: InstalledPlugin | None
    ) -> str:
        flags = "".join(
            " " + badge(flag, "#1565c0")
            for flag, on in (("verified", record.verified), ("featured", record.featured))
            if on
        )
        if installed is None:
            where = "<span class='pliers-muted'>not installed</span>"
        else:
            where = f"installed <b>{esc(installed.version)}</b>"
            if record.name in self.engine:
                plugin = self.engine.plugin(record.name)
                where += (
                    f", {badge(plugin.state.value)} in the engine, isolation "
                    f"<code>{esc(plugin.isolation)}</code>"
                )
        facts = [
            ("description", esc(chosen.description)),
            ("author", esc(chosen.author)),
            ("license", esc(chosen.license)),
            ("categories", esc(", ".join(chosen.categories) or "—")),
            ("keywords", esc(", ".join(chosen.keywords) or "—")),
            ("released", f"{esc(chosen.released_at)} by {esc(chosen.publisher)}"),
            ("downloads", f"{record.downloads} (this version: {chosen.downloads})"),
            ("rating", f"{record.rating:.1f} from {record.rating_count} rating(s)"),
            ("engines", f"pliers {esc(chosen.engines_pliers)}"),
        ]
        return (
            f"<div class='pliers-market-header' data-plugin='{esc(record.name)}' "
            f"data-version='{esc(chosen.version)}' "
            f"data-installed='{esc(installed.version if installed else '')}'>"
            f"<b>{esc(chosen.key)}</b>{flags} · {where}</div>"
            + table_html(("", ""), [(esc(k), v) for k, v in facts], "pliers-facts")
        )

    def _signature(self, chosen: VersionRecord) -> str:
        """The bundle's signature checked now against the store's trusted keys (what an
        install will require), and whether the engine would run it sandboxed."""
        from ...market import open_bundle, verify_bundle

        trusted = self.market.store.trusted_keys()
        cache_key = (chosen.key, chosen.checksum, tuple(sorted(trusted)))
        found = self._signatures.get(cache_key)
        if found is None:
            try:
                bundle = open_bundle(chosen.bundle, limits=self.market.registry.limits)
                result = verify_bundle(bundle, trusted)
                found = (result.status, result.reason)
            except _REFUSALS as exc:
                found = ("invalid", one_line(exc))
            self._signatures[cache_key] = found
        status, reason = found
        policy = self.engine.trust_policy
        if chosen.name in policy.plugins or (chosen.key_id or "") in policy.keys:
            runs = "the engine trusts this plugin or its key: it runs where its manifest asks"
        else:
            runs = (
                "once installed it runs sandboxed (process isolation): the engine trusts "
                "neither this plugin nor its key"
            )
        return (
            f"<div class='pliers-market-signature' data-status='{status}'><b>signature</b> "
            f"{badge(status, _SIGNATURE_COLOURS.get(status))} {esc(reason)}"
            f"<br><span class='pliers-muted'>{esc(runs)}</span></div>"
        )

    def _scan(self, chosen: VersionRecord) -> str:
        scan = chosen.scan or {}
        issues = scan.get("issues") or []
        safe = bool(scan.get("safe", True))
        head = (
            f"<b>security scan</b> score {chosen.score}, "
            f"{'no critical or high finding' if safe else 'critical or high findings'}"
        )
        rows = [
            (
                badge(str(i.get("severity")), _SEVERITY_COLOURS.get(str(i.get("severity")))),
                esc(i.get("type", "")),
                esc(i.get("location") or ""),
                esc(i.get("description", "")),
            )
            for i in issues
        ]
        attrs = [{"data-severity": str(i.get("severity"))} for i in issues]
        table = (
            table_html(("severity", "type", "where", "finding"), rows, "pliers-market-scan", attrs)
            if rows
            else "<div class='pliers-market-scan pliers-muted'>no findings</div>"
        )
        return f"<div>{head}</div>{table}"

    def _permissions(self, chosen: VersionRecord, installed: InstalledPlugin | None) -> str:
        mine = self._permissions_of(chosen)
        if mine is None:
            return message("error", f"{chosen.key}: the registry's manifest does not parse")
        old = self._installed_permissions(installed)
        diff = diff_permissions(old, mine) if old is not None else PermissionDiff()
        added = set(diff.added)
        rows, attrs = [], []
        for row in mine.as_rows():
            change = "added" if row in added else ""
            rows.append((*(esc(x) for x in row), "new" if change and installed is not None else ""))
            attrs.append({"data-change": change})
        for row in diff.removed:
            rows.append((*(esc(x) for x in row), "dropped"))
            attrs.append({"data-change": "removed"})
        against = (
            f" (beside the installed {esc(installed.version)})" if installed is not None else ""
        )
        return f"<b>permissions of {esc(chosen.version)}</b>{against}" + table_html(
            ("category", "verb", "resource", "vs installed"),
            rows,
            "pliers-market-permissions",
            attrs,
        )

    def _versions(
        self,
        record: PluginRecord,
        installed: InstalledPlugin | None,
        tags_of: dict[str, list[str]],
    ) -> str:
        old = self._installed_permissions(installed)
        rows, attrs = [], []
        for v in record.versions:
            state = ""
            if installed is not None and v.version == installed.version:
                state = "active"
            elif installed is not None and v.version in installed.versions:
                state = "kept"
            perms = self._permissions_of(v)
            if old is None or perms is None:
                versus = ""
            else:
                diff = diff_permissions(old, perms)
                versus = "; ".join(
                    part
                    for part in (
                        f"+ {PermissionDiff.text(diff.added)}" if diff.added else "",
                        f"- {PermissionDiff.text(diff.removed)}" if diff.removed else "",
                    )
                    if part
                )
            rows.append(
                (
                    f"<b>{esc(v.version)}</b>",
                    esc(v.released_at),
                    esc(", ".join(sorted(tags_of.get(v.version, [])))),
                    esc("; ".join(v.changes)),
                    esc(versus),
                    str(v.score),
                    esc(state),
                )
            )
            attrs.append({"data-version": v.version, "data-state": state})
        return "<b>versions</b>" + table_html(
            ("version", "released", "tags", "changes", "permissions vs installed", "scan", ""),
            rows,
            "pliers-market-versions",
            attrs,
            numeric=("scan",),
        )

    @staticmethod
    def _permissions_of(record: VersionRecord) -> Permissions | None:
        from ...manifest import ManifestError, parse_manifest

        try:
            return parse_manifest(record.manifest, source=f"{record.key} (registry)").permissions
        except ManifestError:
            return None

    def _installed_permissions(self, installed: InstalledPlugin | None) -> Permissions | None:
        if installed is None:
            return None
        try:
            return self.market.store.manifest(installed.name).permissions
        except _REFUSALS:
            return None

    # ------------------------------------------------------------------ actions
    def _target(self) -> tuple[str | None, str | None]:
        return self.plugin.value or None, self.version.value or None

    def _run(self, what: str, action: Callable[[], T], *, steps: bool = False) -> T | None:
        """Run one action with the buttons disabled; a refusal becomes one line naming
        ``what`` (the action, plugin and version), never a traceback."""
        buttons = (
            self.install_button,
            self.update_button,
            self.rollback_button,
            self.uninstall_button,
            self.accept_button,
        )
        for button in buttons:
            button.disabled = True
        self.steps = []
        self.progress.layout.display = "" if steps else "none"
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.step.value = self._step_html("waiting", f"{what}…") if steps else ""
        self.message.value = message("info", f"{what}…")
        try:
            result = action()
        except _REFUSALS as exc:
            if steps:
                self.progress.bar_style = "danger"
                where = self.steps[-1][0] if self.steps else "resolve"
                self.step.value = self._step_html("failed", f"stopped at {where}")
            self.message.value = message("error", f"could not {what}: {one_line(exc)}")
            result = None
        else:
            if steps:
                self.progress.value = self.progress.max
                self.progress.bar_style = "success"
                self.step.value = self._step_html("done", what)
            self.last = result
        finally:
            self.accept_button.disabled = False
            self.search()
        return result

    def _progress(self, step: str, detail: str) -> None:
        """The ``progress`` callback the marketplace calls as each step starts."""
        self.steps.append((step, detail))
        self.progress.value = STEPS.index(step) + 1 if step in STEPS else self.progress.value
        self.step.value = self._step_html(step, detail)

    @staticmethod
    def _step_html(step: str, detail: str) -> str:
        return (
            f"<span class='pliers-lab pliers-market-step' data-step='{esc(step)}'>"
            f"<b>{esc(step)}</b> {esc(detail)}</span>"
        )

    def _say(self, kind: str, text: str, warnings: tuple[str, ...] = ()) -> None:
        self.message.value = "<br>".join(
            [message(kind, text), *(message("warning", w_) for w_ in warnings)]
        )

    def _isolation(self, pid: str) -> str:
        if pid in self.engine:
            return f"; runs in {self.engine.plugin(pid).isolation} isolation"
        return ""

    def _none_selected(self) -> None:
        """Say that an action needs a plugin first (the buttons' common mistake)."""
        self.message.value = message("error", "no plugin selected: search the registry")

    def install(self) -> InstallResult | None:
        """Install the selected plugin at the selected version (newest: ``latest``),
        with what it depends on; what the Install button does."""
        pid, version = self._target()
        if pid is None:
            self._none_selected()
            return None
        result = self._run(
            f"install {pid}@{version or 'latest'}",
            lambda: self.market.install(
                pid,
                version,
                engine=self.engine,
                allow_unsigned=self.allow_unsigned.value,
                allow_unsafe=self.allow_unsafe.value,
                progress=self._progress,
            ),
            steps=True,
        )
        if result is not None:
            deps = [f"{d['name']} {d['version']}" for d in result.dependencies if d["installed"]]
            extra = f" with {', '.join(deps)}" if deps else ""
            self._say(
                "ok",
                f"installed {pid} {result.version}{extra}{self._isolation(pid)}",
                result.warnings,
            )
            self._reset_version()
        return result

    def update(self) -> UpdatePlan | None:
        """Work out the update of the selected plugin (to the selected version, or the
        newest that fits) and show it for acceptance; what the Update button does.
        Nothing changes until ``accept``."""
        pid, version = self._target()
        if pid is None:
            self._none_selected()
            return None
        try:
            plan = self.market.plan_update(pid, version)
        except _REFUSALS as exc:
            self._close_prompt()
            self.message.value = message(
                "error", f"could not update {pid}@{version or 'newest'}: {one_line(exc)}"
            )
            return None
        if not plan.needed:
            self._close_prompt()
            self.message.value = message(
                "info", f"{pid} is already at {plan.from_version}: nothing to update"
            )
            return plan
        self.pending = plan
        self.prompt_html.value = self._plan_html(plan)
        self.accept_button.description = "Accept and update" if plan.needs_consent else "Update"
        self.prompt.layout.display = ""
        if plan.needs_consent:
            self.message.value = message(
                "warning",
                f"{pid} {plan.to_version} asks for new permissions: "
                f"{PermissionDiff.text(plan.permissions.added)}; accept them to update",
            )
        else:
            self.message.value = message(
                "info", f"{pid} {plan.from_version} → {plan.to_version}: review and confirm"
            )
        return plan

    @staticmethod
    def _plan_html(plan: UpdatePlan) -> str:
        rows, attrs = [], []
        for change, items in (
            ("added", plan.permissions.added),
            ("removed", plan.permissions.removed),
        ):
            for row in items:
                rows.append(("+ new" if change == "added" else "- dropped", *(esc(x) for x in row)))
                attrs.append({"data-change": change})
        if rows:
            diff = table_html(
                ("", "category", "verb", "resource"), rows, "pliers-permission-diff", attrs
            )
        else:
            diff = "<div class='pliers-permission-diff pliers-muted'>same permissions</div>"
        changes = "".join(f"<li>{esc(c)}</li>" for c in plan.changes)
        deps = ", ".join(f"{d['name']} {d['version']}" for d in plan.dependencies)
        return panel(
            f"<b>update {esc(plan.plugin_id)} {esc(plan.from_version)} → "
            f"{esc(plan.to_version)}</b>"
            + (
                "<div class='pliers-warning'>it asks for permissions it does not have now: "
                "review them before you accept</div>"
                if plan.needs_consent
                else ""
            )
            + diff
            + (f"<b>changes</b><ul class='pliers-market-changes'>{changes}</ul>" if changes else "")
            + (f"<div>installs too: {esc(deps)}</div>" if deps else ""),
            "pliers-market-plan",
        )

    def accept(self) -> UpdateResult | None:
        """Apply the update shown in the prompt, exactly that version, granting the
        permissions the prompt listed; what the Accept button does."""
        plan = self.pending
        if plan is None:
            self.message.value = message("error", "no update to accept: click Update first")
            return None
        self._close_prompt()
        result = self._run(
            f"update {plan.plugin_id}@{plan.to_version}",
            lambda: self.market.update(
                plan.plugin_id,
                plan.to_version,
                accept_permissions=plan.needs_consent,
                engine=self.engine,
                allow_unsigned=self.allow_unsigned.value,
                allow_unsafe=self.allow_unsafe.value,
                progress=self._progress,
            ),
            steps=True,
        )
        if result is not None:
            granted = (
                f"; granted {PermissionDiff.text(result.permissions.added)}"
                if result.permissions.added
                else ""
            )
            self._say(
                "ok",
                f"updated {plan.plugin_id} {result.from_version} → {result.to_version}"
                f"{granted}{self._isolation(plan.plugin_id)}",
                result.warnings,
            )
            self._reset_version()
        return result

    def cancel(self) -> None:
        """Drop the pending update; what the Cancel button does."""
        plan = self.pending
        self._close_prompt()
        if plan is not None:
            self.message.value = message(
                "info",
                f"update of {plan.plugin_id} to {plan.to_version} cancelled; "
                f"{plan.from_version} stays",
            )

    def _close_prompt(self) -> None:
        self.pending = None
        self.prompt.layout.display = "none"
        self.prompt_html.value = ""

    def _reset_version(self) -> None:
        self._quiet = True
        self.version.value = ""
        self._quiet = False
        self.show()

    def rollback(self) -> UpdateResult | None:
        """Switch the selected plugin back to the version active before the last switch;
        what the Rollback button does."""
        pid = self.plugin.value
        if not pid:
            self._none_selected()
            return None
        self._close_prompt()
        result = self._run(
            f"roll back {pid}", lambda: self.market.rollback(pid, engine=self.engine)
        )
        if result is not None:
            back = (
                f"; permissions back: {_rows_text(result.permissions.added)}"
                if result.permissions.added
                else ""
            )
            dropped = (
                f"; permissions dropped: {_rows_text(result.permissions.removed)}"
                if result.permissions.removed
                else ""
            )
            self._say(
                "ok",
                f"rolled {pid} back from {result.from_version} to {result.to_version}"
                f"{back}{dropped}",
                result.warnings,
            )
        return result

    def uninstall(self) -> UninstallResult | None:
        """Uninstall the selected plugin (its data stays); what the Uninstall button does."""
        pid = self.plugin.value
        if not pid:
            self._none_selected()
            return None
        self._close_prompt()
        result = self._run(
            f"uninstall {pid}", lambda: self.market.uninstall(pid, engine=self.engine)
        )
        if result is not None:
            self._say("ok", f"uninstalled {pid} {result.version}", result.warnings)
        return result
