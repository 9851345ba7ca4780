#!/usr/bin/env python3
"""A TCP proxy for Tests/sync/run.sh: forwards 127.0.0.1:<free port> to the server untouched
(TLS passes through), except that the first --cuts connections are cut once the server has sent
--cut-after bytes on them: a connection dropped in the middle of a download.

  cutproxy.py --target PORT --cut-after N [--cuts K] --port-file FILE
"""
import argparse, asyncio


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--cut-after", type=int, required=True)
    p.add_argument("--cuts", type=int, default=1)
    p.add_argument("--port-file", required=True)
    a = p.parse_args()
    state = {"cuts": a.cuts}

    async def pipe(reader, writer, limit, peer):
        sent = 0
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                if limit is not None and state["cuts"] > 0 and sent + len(data) > a.cut_after:
                    writer.write(data[:a.cut_after - sent])
                    await writer.drain()
                    state["cuts"] -= 1
                    writer.transport.abort(); peer.transport.abort()
                    return
                sent += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", a.target)
        except OSError:
            cw.close(); return
        await asyncio.gather(pipe(cr, sw, None, cw), pipe(sr, cw, a.cut_after, sw))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    async with server:
        await server.serve_forever()


asyncio.run(main())
