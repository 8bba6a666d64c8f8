"""WebSocket codec micro-benchmark: pipework's codec against the ``websockets`` library's sans-IO parser.

Usage: ``.venv/bin/python bench/codecs_websocket.py [--seconds 0.5]`` (needs ``pip install websockets``).

Two typical frames, both as a client sends them (masked): a 1 KiB binary message and a small
text message (a 40-byte JSON event). Each is decoded and encoded in batches of 100 frames, at two
levels: the frame (pipework's ``decode_frame`` / ``encode_frame`` against websockets'
``Frame.parse`` on its ``StreamReader`` / ``Frame.serialize``) and the connection (pipework's
``Connection.receive_data`` + ``next_event`` / ``send`` against websockets' ``Protocol.receive_data``
+ ``events_received`` / ``send_binary`` + ``data_to_send``, which add message reassembly, UTF-8
checks and the closing-handshake state). Encoding draws a fresh masking key per frame on both
sides (websockets from ``secrets``, pipework from batched ``os.urandom``). websockets masks in C
(its ``speedups`` extension) when built with it, as wheels are; pipework masks with a big-integer
XOR in pure Python. Figures are the best of five rounds, in CPU time of this process
(``time.process_time``), so that other load on the machine slows the clock less than wall time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
from collections.abc import Callable

# This script imports nothing from bench/: keep its modules (one may be called http.py) from
# shadowing the standard library's.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from pipework.codec.websocket import (  # noqa: E402  # after the sys.path fix above
    NEED_DATA,
    Connection,
    Frame,
    Message,
    Opcode,
    Role,
    decode_frame,
    encode_frame,
)

try:
    from websockets.frames import Frame as PeerFrame
    from websockets.frames import Opcode as PeerOpcode
    from websockets.protocol import Protocol, Side
    from websockets.streams import StreamReader
except ModuleNotFoundError:
    sys.exit("the websockets library is the baseline: .venv/bin/pip install websockets")

BATCH = 100  # frames per timed call
KEY = bytes.fromhex("37fa213d")
CASES = {
    "masked 1 KiB binary": (Opcode.BINARY, os.urandom(1024)),
    "masked small text": (Opcode.TEXT, b'{"type":"tick","symbol":"ACME","px":101.25}'),
}

Fn = Callable[[], object]


def ours_decode_frames(data: bytes) -> Fn:
    def run() -> None:
        pos, end = 0, len(data)
        while pos < end:
            got = decode_frame(data, pos, mask_required=True)
            assert got is not None
            pos += got[1]
    return run


def ours_decode_connection(data: bytes) -> Fn:
    def run() -> None:
        conn = Connection(Role.SERVER)
        conn.receive_data(data)
        n = 0
        while conn.next_event() is not NEED_DATA:
            n += 1
        assert n == BATCH
    return run


def peer_decode_frames(data: bytes) -> Fn:
    def run() -> None:
        reader = StreamReader()
        reader.feed_data(data)
        for _ in range(BATCH):
            parser = PeerFrame.parse(reader.read_exact, mask=True, max_size=None)
            try:
                next(parser)
            except StopIteration:
                pass
            else:
                raise AssertionError("incomplete frame")
    return run


def peer_decode_connection(data: bytes) -> Fn:
    def run() -> None:
        proto = Protocol(Side.SERVER, max_size=None)
        proto.receive_data(data)
        assert len(proto.events_received()) == BATCH
    return run


def ours_encode_frames(opcode: Opcode, payload: bytes) -> Fn:
    frame = Frame(opcode, payload)
    urandom = os.urandom

    def run() -> None:
        for _ in range(BATCH):
            encode_frame(frame, urandom(4))
    return run


def ours_encode_connection(opcode: Opcode, payload: bytes) -> Fn:
    message = Message(payload.decode() if opcode is Opcode.TEXT else payload)

    def run() -> None:
        conn = Connection(Role.CLIENT)
        for _ in range(BATCH):
            conn.send(message)
    return run


def peer_encode_frames(opcode: Opcode, payload: bytes) -> Fn:
    frame = PeerFrame(PeerOpcode(opcode), payload)

    def run() -> None:
        for _ in range(BATCH):
            frame.serialize(mask=True)
    return run


def peer_encode_connection(opcode: Opcode, payload: bytes) -> Fn:
    def run() -> None:
        proto = Protocol(Side.CLIENT, max_size=None)
        send = proto.send_text if opcode is Opcode.TEXT else proto.send_binary
        for _ in range(BATCH):
            send(payload)
        proto.data_to_send()
    return run


def rates(fns: dict[str, Fn], seconds: float) -> dict[str, float]:
    """Calls per CPU second of each of ``fns``: the best of five rounds, the functions taking
    turns within each round so that a busy machine slows them alike."""
    batch: dict[str, int] = {}
    for name, fn in fns.items():  # calibrate a batch of ~10 ms
        n = 1
        while True:
            start = time.process_time()
            for _ in range(n):
                fn()
            elapsed = time.process_time() - start
            if elapsed > 0.01:
                break
            n *= 2
        batch[name] = max(1, int(n * seconds / 5 / len(fns) / elapsed))
    best = dict.fromkeys(fns, 0.0)
    for _ in range(5):
        for name, fn in fns.items():
            n = batch[name]
            start = time.process_time()
            for _ in range(n):
                fn()
            best[name] = max(best[name], n / (time.process_time() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="CPU time per measurement (default 0.5)")
    args = parser.parse_args()
    speedups = "C speedups" if _has_speedups() else "pure Python"
    version = importlib.metadata.version("websockets")
    print(f"websockets {version} ({speedups}), Python {sys.version.split()[0]}; "
          f"{BATCH} frames per call, best of 5")
    print(f"{'frame':<22}{'operation':<20}{'pipework':>22}{'websockets':>22}{'ratio':>8}")
    for case, (opcode, payload) in CASES.items():
        wire = encode_frame(Frame(opcode, payload), KEY) * BATCH
        pairs = {
            "decode frame": (ours_decode_frames(wire), peer_decode_frames(wire)),
            "decode connection": (ours_decode_connection(wire), peer_decode_connection(wire)),
            "encode frame": (ours_encode_frames(opcode, payload), peer_encode_frames(opcode, payload)),
            "encode connection": (ours_encode_connection(opcode, payload),
                                  peer_encode_connection(opcode, payload)),
        }
        fns = {f"{op}/{who}": fn for op, pair in pairs.items() for who, fn in zip(("ours", "peer"), pair,
                                                                                    strict=True)}
        got = rates(fns, args.seconds)
        for op in pairs:
            ours, peer = got[f"{op}/ours"] * BATCH, got[f"{op}/peer"] * BATCH
            print(f"{case:<22}{op:<20}{_fmt(ours, len(payload)):>22}{_fmt(peer, len(payload)):>22}"
                  f"{ours / peer:>7.2f}x")


def _fmt(frames_per_s: float, size: int) -> str:
    return f"{frames_per_s / 1e3:,.0f}k f/s {frames_per_s * size / 1e6:,.1f} MB/s"


def _has_speedups() -> bool:
    try:
        from websockets import speedups  # noqa: F401  # only to know whether it is there
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
