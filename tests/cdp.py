"""A small Chrome DevTools Protocol client for the browser tests (headless Debian chromium)."""

from __future__ import annotations

import json
import time


class DevTools:
    """The least of a Chrome DevTools Protocol client: numbered calls, and every event kept."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=None, open_timeout=60)
        self.events: list[dict] = []
        self._id = 0

    def call(self, method: str, timeout: float = 300, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.events:
                if message.get("method") == event:
                    return message
            self.events.append(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))

    def evaluate(self, expression: str):
        # Generous: on a loaded 2-core machine chromium needs minutes just to parse the 4.7 MB plotly.js.
        result = self.call("Runtime.evaluate", timeout=600, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:2000])
        return result["result"].get("value")

    def errors(self) -> list[str]:
        out = []
        for m in self.events:
            method, params = m.get("method"), m.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(params["entry"].get("text", ""))
        return out

    def close(self) -> None:
        self.ws.close()

    def load(self, url: str, timeout: float = 300) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(m.get("method") == "Page.loadEventFired" for m in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))

    def failed_loads(self) -> list[str]:
        urls = {m["params"]["requestId"]: m["params"]["request"]["url"] for m in self.events
                if m.get("method") == "Network.requestWillBeSent"}
        return [f"{urls.get(m['params']['requestId'], '?')}: {m['params'].get('errorText')}" for m in self.events
                if m.get("method") == "Network.loadingFailed"]
