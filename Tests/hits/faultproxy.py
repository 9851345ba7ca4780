#!/usr/bin/env python3
"""A TCP proxy for Tests/hits/run.sh: forwards 127.0.0.1:<free port> to the server (TLS passes
through untouched) and injects faults on a fraction of the connections:

  drop      the request is cut: the connection is aborted after a random number of bytes from the
            client (mid-handshake or mid-request body)
  truncate  an answer is lost: the connection is aborted when the server sends its k-th chunk
            (k random in 1..6: mid-handshake, or right after the server stored a record and
            answered: the client must re-send it, the PUT is idempotent)
  delay     every chunk is forwarded after a random 20-100 ms pause
  refuse    the connection is closed at once

HTTP 500/503 (with Retry-After) come from nginx itself (a map on $request_id), since the proxy
cannot read inside TLS. Counts per fault kind go to --stats FILE on SIGTERM and every second.

  faultproxy.py --target PORT --port-file FILE [--rate 0.3] [--seed N] [--stats FILE] [--listen PORT]
"""
import argparse, asyncio, json, os, random, signal


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--rate", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stats")
    p.add_argument("--listen", type=int, default=0, help="port to listen on (default: a free one)")
    a = p.parse_args()
    rnd = random.Random(a.seed)
    stats = {"connections": 0, "drop": 0, "truncate": 0, "delay": 0, "refuse": 0, "clean": 0, "answers_lost": 0}

    def dump():
        if a.stats:
            with open(a.stats + ".tmp", "w") as f:
                json.dump(stats, f)
            os.replace(a.stats + ".tmp", a.stats)

    async def pipe(reader, writer, cut, delay, other, cut_chunk=None):
        sent = 0
        chunks = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                chunks += 1
                if delay:
                    await asyncio.sleep(rnd.uniform(0.02, 0.1))
                if cut_chunk is not None and chunks >= cut_chunk:
                    stats["answers_lost"] += 1
                    writer.transport.abort(); other.transport.abort()
                    return
                if cut is not None and sent + len(data) > cut:
                    writer.write(data[:cut - sent])
                    await writer.drain()
                    writer.transport.abort(); other.transport.abort()
                    return
                sent += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def handle(cr, cw):
        stats["connections"] += 1
        kind = "clean"
        if rnd.random() < a.rate:
            kind = rnd.choice(["drop", "truncate", "delay", "refuse"])
        stats[kind] += 1
        if kind == "refuse":
            cw.transport.abort(); return
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", a.target)
        except OSError:
            cw.close(); return
        up_cut = rnd.randint(0, 30000) if kind == "drop" else None
        down_chunk = rnd.randint(1, 6) if kind == "truncate" else None
        await asyncio.gather(pipe(cr, sw, up_cut, kind == "delay", cw), pipe(sr, cw, None, kind == "delay", sw, down_chunk))

    server = await asyncio.start_server(handle, "127.0.0.1", a.listen, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(a.port_file + ".tmp", a.port_file)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def ticker():
        while True:
            dump(); await asyncio.sleep(1)
    t = asyncio.create_task(ticker())
    async with server:
        await stop.wait()
    t.cancel(); dump()


asyncio.run(main())
