#!/usr/bin/env python3
"""lb.py - a round-robin TCP load balancer for the tests of several cmpgw
nodes: each accepted connection goes to the next backend port in turn, so a
client that opens a connection per message (openssl cmp -keep_alive 0) sends
its ir to one node and its certConf or pollReq to the next.

Usage: lb.py PORTFILE BACKEND_PORT...  (listens on 127.0.0.1, a port of the
system's choosing, written to PORTFILE once it listens; runs until killed)
"""
import asyncio
import itertools
import os
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    portfile, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    turn = itertools.cycle(ports)

    async def handle(c_reader, c_writer):
        port = next(turn)
        try:
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(pipe(c_reader, b_writer), pipe(b_reader, c_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    os.rename(tmp, portfile)
    async with server:
        await server.serve_forever()


asyncio.run(main())
