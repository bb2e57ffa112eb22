"""Mount several simulated systems on one LoopbackServer, each under its own path prefix.

``Router({"/wms": wms, "/crm": crm})`` hands a request for ``/wms/...`` to
``wms`` unchanged: each simulator was built with the same ``prefix`` and strips
it itself, so it can still write absolute links to its own pages (Klaviyo's
``links.next``). A path under no prefix is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.loopback import Handler, LoopbackRequest, LoopbackResponse

__all__ = ["Router", "strip_prefix"]


def strip_prefix(path: str, prefix: str) -> str | None:
    """``path`` without ``prefix`` ("" prefix: unchanged); None when it is not under it."""
    if not prefix:
        return path
    if path == prefix:
        return ""
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return None


class Router:
    """A LoopbackServer handler dispatching on the longest matching path prefix."""

    def __init__(self, mounts: Mapping[str, Handler]) -> None:
        for prefix, handler in mounts.items():
            if not prefix.startswith("/") or prefix.endswith("/"):
                raise ValueError(f"prefix {prefix!r}: write it as /name (leading slash, none trailing)")
            # A simulator built for another prefix would answer every request with a 404.
            own = getattr(handler, "prefix", None)
            if own is not None and own != prefix:
                raise ValueError(f"{prefix}: the handler was built with prefix={own!r}; build it with {prefix!r}")
        self._mounts = sorted(mounts.items(), key=lambda mount: len(mount[0]), reverse=True)

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        for prefix, handler in self._mounts:
            if strip_prefix(request.path, prefix) is not None:
                return handler(request)
        mounted = ", ".join(sorted(prefix for prefix, _ in self._mounts)) or "(none)"
        return LoopbackResponse(404, {"error": f"no simulated system serves {request.path}; mounted: {mounted}"})
