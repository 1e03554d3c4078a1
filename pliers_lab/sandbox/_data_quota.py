"""Each plugin's data-folder quota: enforced by the kernel (``layers.datafs``) where this
host can, measured after calls where it cannot — and which of the two, with the reason.

One ``DataImage`` per plugin and runtime, shared by the versions a reload overlaps (the
image is locked: ext4 mounted twice at once would be corrupted) and let go when the last
is unloaded. The host reads and writes the plugin's data through the image's descriptor
(``api.files``, ``data_path``), the workers through their clone of it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import PluginError, PluginErrorType
from .layers import datafs
from .policy import Grants

__all__ = ["DataQuota", "DataQuotas"]

_FULL_BYTES = 16 << 10
"""Free space under which the file system counts as full: the kernel refuses a write
that needs a block (ENOSPC) with a few metadata blocks still free."""


class DataQuota:
    """One plugin's quota: its ``image`` (kernel) or the ``reason`` there is none."""

    def __init__(self, plugin: str, image: datafs.DataImage | None, reason: str) -> None:
        self.plugin = plugin
        self.image = image
        self.reason = reason
        self.was_full = False
        """Whether the file system was full after the previous call (one record per
        filling when the plugin catches the refusals)."""

    @property
    def kernel(self) -> bool:
        return self.image is not None

    def full(self, refused: bool) -> int | None:
        """Bytes the folder holds when this call hit the file system's end, else None.

        A hit is ``refused`` (the worker reports a write that failed with ENOSPC or
        EDQUOT: a write larger than the space left fails with space left), or the space
        left is now under a block or so while it was not after the previous call (a new
        filling: the plugin may have caught the error). A caught refusal while the file
        system stays full is not seen by the host, and not counted again."""
        image = self.image
        if image is None or image.fd < 0:
            return None
        full = image.free() <= max(_FULL_BYTES, image.capacity // 100)
        was_full, self.was_full = self.was_full, full
        if refused or (full and not was_full):
            return image.used()
        return None

    def describe(self) -> dict[str, Any]:
        image = self.image
        if image is None:
            return {"enforcedBy": "measured only", "reason": self.reason}
        return {
            "enforcedBy": "kernel",
            "fileSystem": image.describe(),
            "capacityBytes": image.capacity,
            "sizedForBytes": image.sized_for if image.sized_for >= 0 else None,
            "usedBytes": image.used() if image.fd >= 0 else None,
        }


class DataQuotas:
    """The runtime's images, by plugin."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._open: dict[str, tuple[datafs.DataImage, int]] = {}
        self._lock = threading.Lock()

    def acquire(self, plugin: str, grants: Grants, limit: int) -> DataQuota:
        """The quota of ``plugin``'s data folder (``limit`` bytes); the image opened (or
        made) here, or the reason it is measured only. Raises ``PluginError`` (LOAD_ERROR)
        when the folder holds an image this host will not mount: the plugin would not
        see its data, and could write the image — a file system the kernel would mount
        later, crafted by the plugin."""
        quota = self._acquire(plugin, grants, limit)
        folder = grants.data_dir
        if quota.image is None and folder is not None and (Path(folder) / datafs.IMAGE).exists():
            raise PluginError(
                PluginErrorType.LOAD_ERROR,
                f"plugin {plugin!r}: its data is in a file system image "
                f"({Path(folder) / datafs.IMAGE}) that is not mounted for it ({quota.reason}); "
                "without it the plugin would not see its data and could write the image "
                "itself. Load it where its data file system can be mounted (as root, "
                "SandboxPolicy.data_quota=True, one engine at a time), or move its files "
                "out of the image and delete it",
                plugin_id=plugin,
            )
        return quota

    def _acquire(self, plugin: str, grants: Grants, limit: int) -> DataQuota:
        folder = grants.data_dir
        if folder is None or grants.data_access != "write":
            return DataQuota(plugin, None, "the plugin writes no data folder")
        if not self.enabled:
            return DataQuota(plugin, None, "SandboxPolicy.data_quota is False")
        ok, how = datafs.detect()
        if not ok:
            return DataQuota(plugin, None, how)
        with self._lock:
            held = self._open.get(plugin)
            if held is not None:
                self._open[plugin] = (held[0], held[1] + 1)
                return DataQuota(plugin, held[0], "")
            try:
                image = datafs.DataImage(Path(folder), limit)
            except OSError as exc:
                return DataQuota(plugin, None, f"its data image could not be opened: {exc}")
            self._open[plugin] = (image, 1)
        return DataQuota(plugin, image, "")

    def release(self, quota: DataQuota) -> None:
        """One user of the image fewer; closed with the last (workers keep their clone
        until they end)."""
        image = quota.image
        if image is None:
            return
        with self._lock:
            held = self._open.get(quota.plugin)
            if held is None or held[0] is not image:
                return
            if held[1] > 1:
                self._open[quota.plugin] = (image, held[1] - 1)
                return
            del self._open[quota.plugin]
        image.close()

    def path(self, plugin: str) -> Path | None:
        """Where the host finds ``plugin``'s data now (through the image's descriptor)."""
        with self._lock:
            held = self._open.get(plugin)
        return Path(held[0].source) if held is not None else None

    def close(self) -> None:
        with self._lock:
            images = [image for image, _n in self._open.values()]
            self._open.clear()
        for image in images:
            image.close()
