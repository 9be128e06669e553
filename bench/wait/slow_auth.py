import asyncio, sys
async def handle(r, w):
    try:
        while True:
            await r.readuntil(b"\r\n\r\n")
            await asyncio.sleep(float(sys.argv[2]))
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=16384)
    async with s: await s.serve_forever()
asyncio.run(main())
