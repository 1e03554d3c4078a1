"""A test harness for plugin authors: the spec's testing verbs over a real engine.

``load_plugin``, ``fire``, ``expect_hook``, ``expect_event``, ``expect_api`` (with
``serve``), ``mock_database``, ``mock_file_system``, ``mock_network``, ``mock_logger``,
``mock_external_service``, ``cleanup`` — and, when the simulated host is available, forms
and submissions through the whole pipeline.
Nothing here is a mock of the engine: plugins load, run and fail exactly as in production.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..engine.hook_results import HookResult
from ..errors import EngineError
from ..plugin import Plugin

__all__ = [
    "HARNESS_RESULTS",
    "APIExpectation",
    "EventExpectation",
    "FakeService",
    "Harness",
    "HookExpectation",
]

#: Whole results a harness's engine keeps (``Engine(max_results=)``): a plugin's test
#: reads back every hook of many submissions, where a host keeps only the last 100.
HARNESS_RESULTS = 10_000


@dataclass
class FakeService:
    """A stand-in for an external service on ``ctx.api.<name>``: canned answers by
    ``"METHOD path"`` (or a function of method, path, payload), every call recorded."""

    name: str
    responses: Mapping[str, Any] | Callable[[str, str, Any], Any]
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def request(self, method: str, path: str, payload: Any = None) -> Any:
        self.calls.append((method.upper(), path, payload))
        if callable(self.responses):
            return self.responses(method.upper(), path, payload)
        key = f"{method.upper()} {path}"
        if key not in self.responses:
            known = ", ".join(self.responses) or "none"
            raise LookupError(f"{self.name}: no canned answer for {key} (known: {known})")
        answer = self.responses[key]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, payload: Any = None) -> Any:
        return self.request("POST", path, payload)

    def put(self, path: str, payload: Any = None) -> Any:
        return self.request("PUT", path, payload)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


class HookExpectation:
    """What the executions of one hook showed (``harness.expect_hook("form.validate")``)."""

    def __init__(self, hook: str, results: list[HookResult]) -> None:
        self.hook = hook
        self.results = results

    @property
    def last(self) -> HookResult:
        if not self.results:
            raise AssertionError(f"{self.hook} never ran")
        return self.results[-1]

    def to_have_run(self, times: int | None = None) -> HookExpectation:
        if times is None and not self.results:
            raise AssertionError(f"expected {self.hook} to run; it never did")
        if times is not None and len(self.results) != times:
            raise AssertionError(
                f"expected {self.hook} to run {times} times, it ran {len(self.results)}"
            )
        return self

    def to_have_called(self, plugin_id: str, status: str = "ok") -> HookExpectation:
        seen = [o.status for r in self.results for o in r.outcomes if o.plugin_id == plugin_id]
        if status not in seen:
            raise AssertionError(
                f"expected {plugin_id} to answer {self.hook} with status {status!r}; "
                f"saw {seen or 'nothing'}"
            )
        return self

    def to_return(self, value: Any) -> HookExpectation:
        if self.last.value != value:
            raise AssertionError(f"{self.hook} returned {self.last.value!r}, expected {value!r}")
        return self


class EventExpectation:
    """The host events of one type published so far (``harness.expect_event(...)``)."""

    def __init__(self, event_type: str, events: list[dict[str, Any]]) -> None:
        self.event_type = event_type
        self.events = events

    def to_have_been_published(self, times: int | None = None) -> EventExpectation:
        n = len(self.events)
        if (times is None and n == 0) or (times is not None and n != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(f"event {self.event_type} published {n} time(s), not {wanted}")
        return self

    def with_payload(self, **expected: Any) -> EventExpectation:
        """Some event of this type carries these payload values."""
        for event in self.events:
            payload = event.get("payload") or {}
            if all(payload.get(k) == v for k, v in expected.items()):
                return self
        seen = [e.get("payload") for e in self.events]
        raise AssertionError(f"no {self.event_type} event with payload {expected} (seen: {seen})")


class APIExpectation:
    """Calls a served endpoint answered (``harness.expect_api("POST /plugins/x/y")``):
    those that reached the plugin; a request refused before it (401, 429…) is not one."""

    def __init__(self, endpoint: str, calls: list[Any]) -> None:
        self.endpoint = endpoint
        self.calls = calls

    def to_have_been_called(self, times: int | None = None) -> APIExpectation:
        n = len(self.calls)
        if (times is None and n == 0) or (times is not None and n != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(f"{self.endpoint} answered {n} call(s), not {wanted}")
        return self

    def to_have_answered(self, status: int) -> APIExpectation:
        statuses = [c.status for c in self.calls]
        if not statuses or statuses[-1] != status:
            raise AssertionError(f"{self.endpoint}: last answer {statuses[-1:]} is not {status}")
        return self


class Harness:
    """A real engine plus the verbs plugin tests need; ``cleanup`` closes it."""

    def __init__(self, engine: Engine | None = None, *, isolation: str = "inline") -> None:
        self.engine = engine or Engine(default_isolation=isolation, max_results=HARNESS_RESULTS)
        self.services: dict[str, Any] = {}
        self._host: Any = None
        self._server: Any = None
        self._captures: list[Any] = []
        self.engine.add_api_provider(lambda plugin: dict(self.services))

    def load_plugin(self, path: str | Path, config: Mapping[str, Any] | None = None) -> Plugin:
        """Load the plugin folder ``path`` (with ``config``) and return it, ACTIVE."""
        folder = Path(path)
        if not (folder / "manifest.json").is_file():
            raise EngineError(f"{folder}: no manifest.json (give the plugin's folder)")
        return self.engine.load(folder, config=config)

    def fire(self, hook: str, data: Any = None, **options: Any) -> HookResult:
        return self.engine.fire(hook, data, **options)

    def expect_hook(self, hook: str) -> HookExpectation:
        return HookExpectation(
            hook, [r for r in self.engine.executions.results() if r.hook == hook]
        )

    def mock_external_service(
        self, name: str, responses: Mapping[str, Any] | Callable[[str, str, Any], Any]
    ) -> FakeService:
        """Offer ``ctx.api.<name>`` to every plugin, answering from ``responses``."""
        service: FakeService = self._offer(name, FakeService(name, responses))
        return service

    # ------------------------------------------------------------------ fakes of host services
    def _offer(self, name: str, service: Any) -> Any:
        self.services[name] = service
        for plugin in self.engine.plugins:
            plugin.api.attach(name, service)
        return service

    def mock_database(self, tables: Mapping[str, list[dict[str, Any]]] | None = None) -> Any:
        """``ctx.api.database`` on in-memory tables (``FakeDatabase``), calls recorded."""
        from ._fakes import FakeDatabase

        return self._offer(
            "database", FakeDatabase({k: [dict(r) for r in v] for k, v in (tables or {}).items()})
        )

    def mock_file_system(self, files: Mapping[str, str] | None = None) -> Any:
        """``ctx.api.files`` on an in-memory folder (``FakeFiles``; inline plugins)."""
        from ._fakes import FakeFiles

        return self._offer("files", FakeFiles(dict(files or {})))

    def mock_network(
        self, responses: Mapping[str, Any] | Callable[[str, str, dict[str, Any]], Any]
    ) -> Any:
        """``ctx.api.http`` answering from ``responses`` (``FakeNetwork``; inline plugins)."""
        from ._fakes import FakeNetwork

        return self._offer("http", FakeNetwork(responses))

    def mock_logger(self) -> Any:
        """What plugins log from now on (``LogCapture``: ``.entries``, ``.messages()``)."""
        from ._fakes import LogCapture

        capture = LogCapture(self.engine)
        self._captures.append(capture)
        return capture

    # ------------------------------------------------------------------ events and endpoints
    def expect_event(self, event_type: str) -> EventExpectation:
        """Host events of ``event_type`` published so far (the host is created if needed)."""
        return EventExpectation(event_type, self.host.events(type=event_type))

    def serve(self) -> Any:
        """Serve the engine (and the host, if used) on loopback; the ``Server``. A failing
        endpoint's 500 says the plugin's own error text (``expose_plugin_errors``): this
        server is its author's."""
        if self._server is None:
            from ..web import WebSettings, serve

            settings = WebSettings(expose_plugin_errors=True)
            self._server = serve(self.engine, pliers_host=self._host, settings=settings)
        return self._server

    def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        """``(status, JSON body)`` of a request to the served engine (``serve()`` first)."""
        import json
        import urllib.error
        import urllib.request

        server = self.serve()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(server.url + path, data=data, method=method.upper())
        request.add_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                raw, status = reply.read(), reply.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def expect_api(self, endpoint: str) -> APIExpectation:
        """Calls the served endpoint ``"METHOD /plugins/..."`` (its manifest path) answered."""
        if self._server is None:
            raise EngineError("expect_api: nothing was served; call harness.serve() first")
        calls = self._server.app.state.pliers.dispatcher.calls
        return APIExpectation(endpoint, [c for c in list(calls) if c.endpoint == endpoint])

    @staticmethod
    def submission(
        data: Mapping[str, Any],
        *,
        form: Mapping[str, Any] | None = None,
        submission_id: str = "s-1",
    ) -> dict[str, Any]:
        """Hook data for submission hooks: ``{"form", "submission"}`` with a form whose
        text fields are the keys of ``data`` (unless a form is given)."""
        form = dict(form) if form else {
            "id": "form-1", "name": "Test form", "version": 1, "metadata": {},
            "fields": [{"id": f"f{i}", "name": k, "label": k, "type": "text", "required": False}
                       for i, k in enumerate(data)],
        }  # fmt: skip
        submission = {"id": submission_id, "formId": form["id"], "data": dict(data),
                      "metadata": {}, "status": "new"}  # fmt: skip
        return {"form": form, "submission": submission}

    # ------------------------------------------------------------------ the host
    @property
    def host(self) -> Any:
        """A simulated Pliers host on an in-memory database, created on first use."""
        if self._host is None:
            from ..host import Host

            self._host = Host.in_memory(self.engine)
        return self._host

    def setup(self, *forms: Mapping[str, Any]) -> Any:
        """The host, with ``forms`` created (the spec's ``setup``)."""
        for form in forms:
            self.create_form(form)
        return self.host

    def create_form(self, definition: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        return dict(self.host.create_form(definition, **options).value)

    def submit_form(self, form_id: str, data: Mapping[str, Any], **options: Any) -> Any:
        """Push a submission through the whole pipeline; returns the host's result
        (``.value`` the saved submission, ``.trace`` every step). A veto or invalid data
        raises the host's error, naming the plugin and the hook."""
        return self.host.submit(form_id, data, **options)

    def get_submission(self, submission_id: str) -> dict[str, Any]:
        return dict(self.host.get_submission(submission_id))

    def get_tasks(self) -> list[dict[str, Any]]:
        """Tasks plugins scheduled (``ctx.api.schedule_task``), due or not."""
        return [dict(r) for r in self.host.db.query("SELECT * FROM tasks ORDER BY id")]

    def wait_for_hooks(self, *hooks: str) -> list[HookResult]:
        """The executions of ``hooks`` so far (the engine keeps whole results for its last
        ``max_results`` executions: ``HARNESS_RESULTS`` in the harness's own engine).
        Hooks run synchronously inside host operations, so there is nothing to wait for;
        kept for the spec's verb."""
        return [r for r in self.engine.executions.results() if not hooks or r.hook in hooks]

    def cleanup(self) -> None:
        for capture in self._captures:
            capture.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._host is not None:
            self._host.close()
            self._host = None
        self.engine.close()
