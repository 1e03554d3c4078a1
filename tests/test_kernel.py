"""``Engine.fire`` in a real Jupyter kernel, where a cell runs inside the kernel's event loop."""

import json

import jupyter_client.manager

CELL = r"""
import asyncio, json
from pliers_lab import Engine, hook

running = asyncio.get_running_loop().is_running()   # raises if no loop runs this cell

@hook("form.validate")
async def slow_check(ctx):
    await asyncio.sleep(0.01)
    return {"valid": False, "errors": ["checked on " + str(asyncio.get_running_loop() is not None)]}

engine = Engine()
engine.add_plugin({
    "name": "kernel-check", "version": "1.0.0", "description": "runs inside a kernel",
    "author": "tests", "license": "MIT", "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {"form.validate": {"timeout": 2000}},
}, {"slow_check": slow_check})
result = engine.fire("form.validate", {"form": {}})
print(json.dumps({"running": running, "value": result.value,
                  "status": result.outcomes[0].status}))
"""


def test_sync_fire_of_an_async_handler_inside_a_running_kernel_loop():
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        out = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])

        reply = kc.execute_interactive(CELL, timeout=60, output_hook=hook)
        assert reply["content"]["status"] == "ok", "".join(out)
        answer = json.loads("".join(out).strip().splitlines()[-1])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert answer["running"] is True
    assert answer["status"] == "ok"
    assert answer["value"]["valid"] is False
    assert answer["value"]["errors"][0]["message"] == "checked on True"
