"""Watches that stamp every event on arrival and survive API server restarts.

Each ResourceWatch runs in its own thread, stamps an event with the injected clock the moment
it arrives, and puts it on a shared queue. Consumers process events later, in order. When the
watch breaks it resumes from the last resourceVersion it received. When that version has
expired (410 Gone) it lists again and emits the difference as synthetic events stamped with
the relist time. No transition is lost, but its time is then known less exactly.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from tenacity import Retrying, retry_if_exception_type, stop_never, wait_exponential

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_WATCH_TIMEOUT_S = 60
_TRANSIENT = (urllib3.exceptions.HTTPError, ConnectionError, OSError)


@dataclass(frozen=True)
class WatchEvent:
    arrived: float  # clock() when the event reached the harness
    source: str  # which watch delivered it, e.g. "pods"
    type: str  # ADDED, MODIFIED, DELETED; RELISTED for objects found by a relist
    object: dict[str, Any]

    @property
    def name(self) -> str:
        return self.object["metadata"]["name"]


class ResourceWatch(threading.Thread):
    """Lists then watches one namespaced resource, forwarding events to `events`."""

    def __init__(
        self,
        source: str,
        list_function: Callable[..., Any],
        namespace: str,
        events: queue.Queue[WatchEvent],
        clock: Clock = time.monotonic,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        super().__init__(name=f"watch-{source}", daemon=True)
        self.source = source
        self._list = list_function
        self._namespace = namespace
        self._events = events
        self._clock = clock
        self._selectors = {"label_selector": label_selector, "field_selector": field_selector}
        self._stop = threading.Event()
        self.listed = threading.Event()  # set once the first list has been forwarded
        self._known: dict[str, str] = {}  # object name -> last resourceVersion seen
        self._resource_version: str | None = None
        self._watch: watch.Watch | None = None
        self.restarts = 0
        self.relists = 0

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(_TRANSIENT + (ApiException,)),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_never,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            retrying(self._run_until_stopped)
        except Exception:  # the thread must not die silently
            log.exception("watch of %s stopped after an unexpected error", self.source)

    def _run_until_stopped(self) -> None:
        while not self._stop.is_set():
            if self._resource_version is None:
                self._relist()
            try:
                self._stream()
            except ApiException as error:
                if error.status != 410:
                    raise
                log.debug(
                    "watch of %s: resourceVersion %s expired; relisting",
                    self.source,
                    self._resource_version,
                )
                self._resource_version = None

    def _relist(self) -> None:
        listing = self._call_list()
        now = self._clock()
        seen = set()
        for item in listing.get("items", []):
            name = item["metadata"]["name"]
            seen.add(name)
            if self._known.get(name) != item["metadata"].get("resourceVersion"):
                self._emit(now, "ADDED" if self.relists == 0 else "RELISTED", item)
        for name in set(self._known) - seen:
            self._emit(now, "DELETED", {"metadata": {"name": name}})
        self._resource_version = listing["metadata"]["resourceVersion"]
        self.relists += 1
        self.listed.set()

    def _stream(self) -> None:
        self._watch = watch.Watch()
        kwargs: dict[str, Any] = {
            "resource_version": self._resource_version,
            "timeout_seconds": _WATCH_TIMEOUT_S,
            "allow_watch_bookmarks": True,
        }
        kwargs.update({key: value for key, value in self._selectors.items() if value})
        for event in self._watch.stream(self._list, self._namespace, **kwargs):
            arrived = self._clock()
            if self._stop.is_set():
                return
            raw = event["raw_object"]
            if event["type"] == "ERROR":
                code = raw.get("code")
                raise ApiException(status=code, reason=raw.get("message", "watch error"))
            self._resource_version = raw["metadata"]["resourceVersion"]
            if event["type"] != "BOOKMARK":
                self._emit(arrived, event["type"], raw)

    def _call_list(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"_preload_content": False}
        kwargs.update({key: value for key, value in self._selectors.items() if value})
        response = self._list(self._namespace, **kwargs)
        return json.loads(response.data)

    def _emit(self, arrived: float, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self._known.pop(name, None)
        else:
            self._known[name] = obj["metadata"].get("resourceVersion", "")
        self._events.put(WatchEvent(arrived, self.source, event_type, obj))

    def _log_retry(self, retry_state: Any) -> None:
        self.restarts += 1
        error = retry_state.outcome.exception()
        log.debug(
            "watch of %s broke (%s); resuming from resourceVersion %s",
            self.source,
            error,
            self._resource_version,
        )
