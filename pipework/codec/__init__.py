"""Sans-IO protocol codecs: bytes in, messages out; messages in, bytes out. No asyncio, no sockets."""
