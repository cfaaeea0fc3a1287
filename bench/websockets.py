"""Benchmark: memory for many idle web-chat websockets in one process.

    python -m bench.websockets [--sockets 10000]

``porchlight serve`` (embedded SQLite) and, as the baseline measured in the same run, the
bare aiohttp app of ``bench.floor`` each run as their own process; this process opens
``--sockets`` web-chat websockets to each and leaves them idle (a page that is open and
quiet). Reported: the server's resident memory (VmRSS) before and with the sockets open, the
cost per socket, and the ratio to the bare app.

Target (issue #8): 10,000 idle sockets in <= 1 GiB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import aiohttp

from bench.sms_webhook import server, wait_ready

BATCH = 500


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def measure(url: str, pid: int, sockets: int) -> tuple[float, float]:
    """RSS (MiB) idle, then with ``sockets`` websockets open."""
    await wait_ready(url)
    before = rss_mib(pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        opened: list[aiohttp.ClientWebSocketResponse] = []
        for start in range(0, sockets, BATCH):
            opened += await asyncio.gather(
                *(
                    http.ws_connect(url + "/channels/webchat/ws", heartbeat=None)
                    for _ in range(min(BATCH, sockets - start))
                )
            )
        await asyncio.sleep(2)  # let the server settle
        during = rss_mib(pid)
        for socket in opened:
            await socket.close()
    return before, during


async def run(sockets: int) -> str:
    figures = {}
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-ws-") as work:
        for name in ("bare", "porchlight"):
            with server(name, Path(work)) as (url, pid):
                figures[name] = await measure(url, pid, sockets)
    bare_cost = figures["bare"][1] - figures["bare"][0]
    lines = [
        f"{sockets} idle websockets",
        "| target | RSS idle MiB | RSS with sockets MiB | KiB per socket | x bare |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, (before, during) in figures.items():
        cost = during - before
        lines.append(
            f"| {name} | {before:.0f} | {during:.0f} | {cost * 1024 / sockets:.1f} | "
            f"{cost / bare_cost:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sockets", type=int, default=10000)
    args = parser.parse_args()
    print(asyncio.run(run(args.sockets)))


if __name__ == "__main__":
    main()
