"""Request-scoped services offered on ``request.api`` by the server.

With a host (``create_app(engine, host)``), ``request.api.create_submission(form_id,
data, metadata=None)`` submits a form through the host's whole pipeline (every
submission hook fires) and returns the saved submission. It is checked like the host's
own api: the manifest must grant ``database.write`` on ``submissions``, else a
SECURITY_ERROR names the plugin. The submission carries the request's user and request
id, and ``metadata.source = "plugin:<id>"`` unless the plugin sets ``source`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, PluginErrorType

if TYPE_CHECKING:
    from ..plugin import Plugin
    from ._messages import RequestMetadata

__all__ = ["host_services"]


def host_services(host: Any) -> Callable[[Plugin, RequestMetadata], Mapping[str, Any]]:
    """The ``Services`` factory the dispatcher calls once per request."""

    def services(plugin: Plugin, meta: RequestMetadata) -> Mapping[str, Any]:
        def create_submission(
            form_id: str, data: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
        ) -> dict[str, Any]:
            """Submit ``data`` to form ``form_id`` through the host; the saved submission."""
            if not plugin.manifest.permissions.allows("database", "write", "submissions"):
                raise PluginError(
                    PluginErrorType.SECURITY_ERROR,
                    "create_submission denied: the manifest does not grant database.write "
                    "on submissions",
                    plugin_id=plugin.id,
                )
            extra = {"source": f"plugin:{plugin.id}", **dict(metadata or {})}
            result = host.submissions.submit(
                form_id,
                data,
                user_id=meta.user_id,
                session_id=meta.session_id,
                metadata=extra,
                request_id=meta.request_id,
            )
            return dict(result.value)

        return {"create_submission": create_submission}

    return services
