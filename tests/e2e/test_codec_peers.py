"""The sans-IO codecs against real programs written by others, on 127.0.0.1 with ports found at run time.

* MQTT: our encoder and Decoder as a client of the mosquitto broker (3.1.1 and 5), with
  mosquitto_pub and mosquitto_sub on the other side; and as a minimal broker of our own that
  mosquitto_pub and mosquitto_sub connect to.
* DNS: a test-local server (UDP and TCP in one thread) that decodes with ``pipework.codec.dns``
  and answers with its encoder, queried by dig, whose parsed output is checked.
* SOCKS: a test-local SOCKS4/4a/5 server driven by ``pipework.codec.socks`` in the server role,
  relaying to a local http.server, used by curl.

Debian packages: mosquitto, mosquitto-clients, bind9-dnsutils, curl. Without them the tests
skip (and fail under PIPEWORK_REQUIRE_ALL=1). Every process and thread a test starts is stopped
by the test; a thread's exception is kept and raised by the test that owns the thread.
"""

from __future__ import annotations

import ipaddress
import os
import pty
import re
import selectors
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import free_port, require, wait_port

from pipework.codec import dns, mqtt, socks

TIMEOUT = 5.0  # seconds for any one socket read, process or thread to finish


class _Threads:
    """The threads of one test-local server: stopped together, their exceptions kept for the test."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # handed to the test by close()
                self.errors.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        self.stop.set()
        joined = 0
        while joined < len(self._threads):  # a connection thread may start while we join
            self._threads[joined].join(TIMEOUT)
            joined += 1
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"threads still running: {alive}"
        if self.errors:
            raise self.errors[0]


def _listener(kind: int = socket.SOCK_STREAM, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            sock.listen(16)
    except OSError:
        sock.close()
        raise
    return sock


def _accept_loop(threads: _Threads, server: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept until told to stop; each connection is handled in its own thread, then closed."""

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            handle(conn)

    server.settimeout(0.05)
    while not threads.stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        threads.spawn("conn", serve, conn)


def _clean_env() -> dict[str, str]:
    """The environment without proxy settings, so that curl goes exactly where the test says."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class _Lines:
    """A child's output through a pseudo-terminal, so that its stdio flushes every line (into a pipe
    it would buffer them), read with a deadline rather than a readline that could block."""

    def __init__(self, args: list[str]) -> None:
        self.fd, child = pty.openpty()
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=child, stderr=child)
        except BaseException:
            os.close(self.fd)
            raise
        finally:
            os.close(child)
        self.buf = b""
        self.lines: list[str] = []
        self.eof = False

    def until(self, predicate: Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                raise AssertionError(f"no such line in {self.lines!r}")
            with selectors.DefaultSelector() as sel:
                sel.register(self.fd, selectors.EVENT_READ)
                if not sel.select(left):
                    continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child has exited and closed the terminal
                chunk = b""
            self.eof = not chunk
            self.buf += chunk.replace(b"\r\n", b"\n")
            *complete, self.buf = self.buf.split(b"\n")
            self.lines += [line.decode(errors="replace") for line in complete]

    def close(self) -> None:
        _stop(self.proc)
        os.close(self.fd)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


# ---------------------------------------------------------------------------------------------- MQTT

LEVELS = [pytest.param(mqtt.MQTT_3_1_1, id="mqtt311"), pytest.param(mqtt.MQTT_5, id="mqtt5")]
_VERSION_FLAG = {mqtt.MQTT_3_1_1: "mqttv311", mqtt.MQTT_5: "mqttv5"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A mosquitto broker on 127.0.0.1:<free port>, anonymous access allowed; its port."""
    exe = require("mosquitto")
    require("mosquitto_pub")
    require("mosquitto_sub")
    port = free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    # mosquitto 2 listens on loopback only and refuses anonymous clients unless configured.
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    with open(conf.with_name("mosquitto.log"), "wb") as log:
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port("127.0.0.1", port, TIMEOUT)
        assert proc.poll() is None, conf.with_name("mosquitto.log").read_text()
        yield port
    finally:
        _stop(proc)


class _MqttClient:
    """A raw TCP connection speaking MQTT through our encoder and a Decoder of the server's stream."""

    def __init__(self, port: int, level: int) -> None:
        self.level = level
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.decoder = mqtt.Decoder(level, peer=mqtt.Peer.SERVER)

    def send(self, packet: mqtt.Packet) -> None:
        self.sock.sendall(mqtt.encode(packet, self.level))

    def receive(self) -> mqtt.Packet | mqtt.Sentinel:
        while (event := self.decoder.next_event()) is mqtt.NEED_DATA:
            self.decoder.receive_data(self.sock.recv(65536))
        return event

    def connect(self, *, session_present: bool = False, **fields: Any) -> mqtt.ConnAck:
        """Send a CONNECT (a fresh client id unless given); check that the CONNACK accepts it."""
        fields.setdefault("client_id", f"pw-{uuid.uuid4().hex[:12]}")
        self.send(mqtt.Connect(protocol_level=self.level, **fields))
        connack = self.receive()
        assert isinstance(connack, mqtt.ConnAck)
        assert connack.reason_code == 0
        assert connack.session_present is session_present
        return connack

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def mqtt_clients(broker: int) -> Iterator[Callable[[int], _MqttClient]]:
    opened: list[_MqttClient] = []

    def open_client(level: int) -> _MqttClient:
        opened.append(_MqttClient(broker, level))
        return opened[-1]

    yield open_client
    for client in opened:
        client.close()


def _topic() -> str:
    return f"pipework/test/{uuid.uuid4().hex[:12]}"


def _mosquitto(tool: str, port: int, level: int, topic: str) -> list[str]:
    return [tool, "-h", "127.0.0.1", "-p", str(port), "-V", _VERSION_FLAG[level], "-t", topic]


def _mosquitto_pub(port: int, level: int, topic: str, *args: str, stdin: bytes | None = None) -> None:
    command = _mosquitto("mosquitto_pub", port, level, topic)
    run = subprocess.run([*command, *args], input=stdin, capture_output=True, timeout=TIMEOUT, check=False)
    assert run.returncode == 0, run.stderr


def _mosquitto_sub(port: int, level: int, topic: str, *args: str) -> list[str]:
    """The command line of a mosquitto_sub that subscribes with QoS 1, takes one message and exits."""
    return [*_mosquitto("mosquitto_sub", port, level, topic), "-q", "1", "-C", "1", "-W", "10", *args]


@pytest.mark.parametrize("level", LEVELS)
def test_mqtt_client_session_with_mosquitto(broker: int, mqtt_clients: Any, level: int) -> None:
    client = mqtt_clients(level)
    v5 = level == mqtt.MQTT_5
    props = (
        mqtt.Properties(receive_maximum=8, user_properties=[("who", "pipework")]) if v5 else mqtt.Properties()
    )
    connack = client.connect(keep_alive=30, properties=props)
    if v5:  # mosquitto's defaults: max_inflight_messages 20, max_topic_alias 10
        assert connack.properties.receive_maximum == 20
        assert connack.properties.topic_alias_maximum == 10

    exact, prefix = _topic(), _topic()
    sub_props = mqtt.Properties(subscription_identifiers=[7]) if v5 else mqtt.Properties()
    client.send(
        mqtt.Subscribe(
            1,
            [mqtt.Subscription(exact, qos=1), mqtt.Subscription(f"{prefix}/+/w", qos=0)],
            properties=sub_props,
        )
    )
    assert client.receive() == mqtt.SubAck(1, [mqtt.ReasonCode.GRANTED_QOS_1, mqtt.ReasonCode.GRANTED_QOS_0])

    # QoS 1 from mosquitto_pub, forwarded by the broker with its own packet id: we must PUBACK.
    extra: list[str] = []
    if v5:
        for prop in (
            "user-property k v",
            "response-topic reply/here",
            "correlation-data c0ffee",
            "message-expiry-interval 100",
            "payload-format-indicator 1",
            "topic-alias 1",  # between mosquitto_pub and the broker only: not forwarded
        ):
            extra += ["-D", "publish", *prop.split()]
    _mosquitto_pub(broker, level, exact, "-q", "1", "-m", "payload one", *extra)
    publish = client.receive()
    assert isinstance(publish, mqtt.Publish)
    assert (publish.topic, publish.payload, publish.qos, publish.retain) == (exact, b"payload one", 1, False)
    assert isinstance(publish.packet_id, int)
    if v5:
        got = publish.properties
        assert got.user_properties == [("k", "v")]
        assert got.subscription_identifiers == [7]
        assert (got.response_topic, got.correlation_data, got.payload_format_indicator) == (
            "reply/here",
            b"c0ffee",
            1,
        )
        assert got.message_expiry_interval is not None
        assert 98 <= got.message_expiry_interval <= 100  # the broker forwards what is left of it
        assert got.topic_alias is None
    else:
        assert publish.properties.is_empty()
    client.send(mqtt.PubAck(publish.packet_id))

    # A 200 kB message through the wildcard subscription: a 3-byte Remaining Length, read in chunks.
    big = bytes(range(256)) * 800
    _mosquitto_pub(broker, level, f"{prefix}/x/w", "-q", "1", "-s", stdin=big)
    publish = client.receive()
    assert isinstance(publish, mqtt.Publish)
    assert (publish.topic, publish.qos, publish.packet_id) == (f"{prefix}/x/w", 0, None)  # granted QoS 0
    assert publish.payload == big
    assert publish.properties.subscription_identifiers == ([7] if v5 else [])

    client.send(mqtt.PingReq())
    assert client.receive() == mqtt.PingResp()

    client.send(mqtt.Unsubscribe(2, [exact]))
    assert client.receive() == mqtt.UnsubAck(2, [mqtt.ReasonCode.SUCCESS] if v5 else [])

    client.send(mqtt.Disconnect())
    assert client.receive() is mqtt.CLOSED  # the broker closes after our DISCONNECT


@pytest.mark.parametrize("level", LEVELS)
def test_mqtt_will_and_persistent_session_with_mosquitto(broker: int, mqtt_clients: Any, level: int) -> None:
    v5 = level == mqtt.MQTT_5
    watcher = mqtt_clients(level)
    watcher.connect()
    will_topic = _topic()
    watcher.send(mqtt.Subscribe(1, [mqtt.Subscription(will_topic, qos=1)]))
    assert watcher.receive() == mqtt.SubAck(1, [mqtt.ReasonCode.GRANTED_QOS_1])

    # Our CONNECT with a Will (and credentials, which anonymous access ignores); then the
    # connection drops without DISCONNECT, so the broker publishes the Will.
    will_props = mqtt.Properties(content_type="text/plain", user_properties=[("w", "1")]) if v5 else None
    will = mqtt.Will(will_topic, b"gone", qos=1, properties=will_props or mqtt.Properties())
    doomed = mqtt_clients(level)
    doomed.connect(username="device", password=b"secret", will=will)
    doomed.close()
    publish = watcher.receive()
    assert isinstance(publish, mqtt.Publish)
    assert (publish.topic, publish.payload, publish.qos) == (will_topic, b"gone", 1)
    assert publish.properties == (will_props or mqtt.Properties())
    assert publish.packet_id is not None
    watcher.send(mqtt.PubAck(publish.packet_id))

    # A session that outlives its connection: CONNACK says so, and a QoS 1 message sent while
    # we were away arrives after the reconnect.
    client_id, topic = f"pw-{uuid.uuid4().hex[:12]}", _topic()
    keep = mqtt.Properties(session_expiry_interval=60) if v5 else mqtt.Properties()
    first = mqtt_clients(level)
    first.connect(client_id=client_id, clean_start=False, properties=keep)
    first.send(mqtt.Subscribe(1, [mqtt.Subscription(topic, qos=1)]))
    assert first.receive() == mqtt.SubAck(1, [mqtt.ReasonCode.GRANTED_QOS_1])
    first.send(mqtt.Disconnect())
    assert first.receive() is mqtt.CLOSED
    _mosquitto_pub(broker, level, topic, "-q", "1", "-m", "while you were out")
    again = mqtt_clients(level)
    again.connect(client_id=client_id, clean_start=False, properties=keep, session_present=True)
    publish = again.receive()
    assert isinstance(publish, mqtt.Publish)
    assert (publish.topic, publish.payload, publish.qos) == (topic, b"while you were out", 1)
    assert publish.packet_id is not None
    again.send(mqtt.PubAck(publish.packet_id))
    again.send(mqtt.Disconnect())
    assert again.receive() is mqtt.CLOSED
    mqtt_clients(level).connect(client_id=client_id, clean_start=True)  # drops the session


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("level", LEVELS)
def test_mqtt_our_publish_reaches_mosquitto_sub(broker: int, mqtt_clients: Any, level: int, qos: int) -> None:
    topic = _topic()
    lines = _Lines(_mosquitto_sub(broker, level, topic, "-d", "-v"))
    try:
        lines.until(lambda line: "received SUBACK" in line)  # -d: it has subscribed, publishing now is safe
        client = mqtt_clients(level)
        client.connect()
        packet_id = 1 if qos else None
        client.send(mqtt.Publish(topic, b"hello from pipework", qos=qos, packet_id=packet_id))
        if qos:
            assert client.receive() == mqtt.PubAck(1)
        lines.until(lambda line: line == f"{topic} hello from pipework")
        received = lines.until(lambda line: "received PUBLISH" in line)
        # Delivered at min(our QoS, the subscription's), not retained, not a duplicate.
        assert f"received PUBLISH (d0, q{qos}, r0, " in received, received
        assert lines.proc.wait(TIMEOUT) == 0
        client.send(mqtt.Disconnect())
        assert client.receive() is mqtt.CLOSED
    finally:
        lines.close()


def test_mqtt5_retained_publish_with_properties(broker: int, mqtt_clients: Any) -> None:
    topic = _topic()
    client = mqtt_clients(mqtt.MQTT_5)
    client.connect()
    props = mqtt.Properties(
        content_type="text/plain",
        payload_format_indicator=1,
        user_properties=[("origin", "pipework"), ("origin", "again")],
    )
    client.send(mqtt.Publish(topic, "café".encode(), qos=1, retain=True, packet_id=9, properties=props))
    # Retained, yet nobody subscribes yet: mosquitto says so with MQTT 5's reason code 0x10.
    assert client.receive() == mqtt.PubAck(9, mqtt.ReasonCode.NO_MATCHING_SUBSCRIBERS)
    try:
        run = subprocess.run(
            _mosquitto_sub(broker, mqtt.MQTT_5, topic, "-F", "%r|%q|%t|%C|%F|%P|%p"),
            capture_output=True,
            timeout=TIMEOUT + 5,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert (
            run.stdout.decode().rstrip("\n") == f"1|1|{topic}|text/plain|1|origin:pipework origin:again|café"
        )
    finally:
        # An empty retained message clears the topic on the broker.
        client.send(mqtt.Publish(topic, b"", qos=1, retain=True, packet_id=10))
        # mosquitto_sub may still be leaving the broker (its DISCONNECT races this PUBLISH), so
        # either answer is right here; the 0x10 case is checked above
        ack = client.receive()
        assert ack in (mqtt.PubAck(10, mqtt.ReasonCode.NO_MATCHING_SUBSCRIBERS), mqtt.PubAck(10)), ack
        client.send(mqtt.Disconnect(mqtt.ReasonCode.NORMAL_DISCONNECTION))


@dataclass
class _MiniBroker:
    """Our codec as the server side: mosquitto_pub and mosquitto_sub are the clients.

    One connection at a time is enough for these clients; every packet received is recorded.
    """

    deliver: tuple[str, bytes] = ("", b"")
    packets: list[mqtt.Packet] = field(default_factory=list)
    threads: _Threads = field(default_factory=_Threads)
    finished: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def start(self) -> int:
        self.sock = _listener()
        self.threads.spawn("mini-broker", _accept_loop, self.threads, self.sock, self._serve)
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        try:
            self.threads.close()
        finally:
            self.sock.close()

    def wait_closed(self) -> None:
        """Wait until a client's connection has ended (its last packets are then recorded)."""
        assert self.finished.acquire(timeout=TIMEOUT), "the client did not close its connection"

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        finally:
            self.finished.release()

    def _converse(self, conn: socket.socket) -> None:
        decoder = mqtt.Decoder(peer=mqtt.Peer.CLIENT)  # learns the level from the CONNECT
        while True:
            event = decoder.next_event()
            if event is mqtt.NEED_DATA:
                decoder.receive_data(conn.recv(65536))
                continue
            if event is mqtt.CLOSED:
                return
            assert isinstance(event, mqtt.Packet)
            self.packets.append(event)
            level = decoder.protocol_level
            assert level is not None
            if isinstance(event, mqtt.Connect):
                conn.sendall(mqtt.encode(mqtt.ConnAck(), level))
            elif isinstance(event, mqtt.Publish) and event.qos == 1:
                assert event.packet_id is not None
                conn.sendall(mqtt.encode(mqtt.PubAck(event.packet_id), level))
            elif isinstance(event, mqtt.Subscribe):
                granted = [mqtt.ReasonCode(s.qos) for s in event.subscriptions]
                conn.sendall(mqtt.encode(mqtt.SubAck(event.packet_id, granted), level))
                topic, payload = self.deliver
                conn.sendall(mqtt.encode(mqtt.Publish(topic, payload, qos=1, packet_id=1), level))
            elif isinstance(event, mqtt.PingReq):
                conn.sendall(mqtt.encode(mqtt.PingResp(), level))
            elif isinstance(event, mqtt.Disconnect):
                continue  # the client closes next; the decoder then says CLOSED


@pytest.fixture
def mini_broker() -> Iterator[_MiniBroker]:
    require("mosquitto_pub")
    broker = _MiniBroker()
    broker.start()
    yield broker
    broker.close()


@pytest.mark.parametrize("level", LEVELS)
def test_mqtt_mosquitto_pub_to_our_server_codec(mini_broker: _MiniBroker, level: int) -> None:
    port = mini_broker.sock.getsockname()[1]
    v5 = level == mqtt.MQTT_5
    extra = (
        ["-D", "connect", "user-property", "a", "b", "-D", "publish", "content-type", "text/x"] if v5 else []
    )
    args = "-q 1 -m 21.5 -r -i sensor-1 -k 17 -u alice -P s3cret"
    will = "--will-topic dev/1/status --will-payload gone --will-qos 1"
    _mosquitto_pub(port, level, "dev/1/temp", *args.split(), *will.split(), *extra)
    mini_broker.wait_closed()
    connect, publish, disconnect = mini_broker.packets
    assert isinstance(connect, mqtt.Connect)
    assert (connect.protocol_level, connect.client_id, connect.keep_alive) == (level, "sensor-1", 17)
    assert (connect.username, connect.password, connect.clean_start) == ("alice", b"s3cret", True)
    assert connect.will is not None
    assert (connect.will.topic, connect.will.payload, connect.will.qos) == ("dev/1/status", b"gone", 1)
    assert isinstance(publish, mqtt.Publish)
    assert (publish.topic, publish.payload, publish.qos, publish.retain) == ("dev/1/temp", b"21.5", 1, True)
    assert disconnect == mqtt.Disconnect()
    if v5:
        assert connect.properties.user_properties == [("a", "b")]
        assert publish.properties.content_type == "text/x"


@pytest.mark.parametrize("level", LEVELS)
def test_mqtt_mosquitto_sub_to_our_server_codec(mini_broker: _MiniBroker, level: int) -> None:
    require("mosquitto_sub")
    port = mini_broker.sock.getsockname()[1]
    mini_broker.deliver = ("dev/2/cmd", b"reboot")
    run = subprocess.run(
        _mosquitto_sub(port, level, "dev/+/cmd", "-v"),
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode() == "dev/2/cmd reboot\n"
    mini_broker.wait_closed()
    connect, subscribe, puback, disconnect = mini_broker.packets
    assert isinstance(connect, mqtt.Connect)
    assert connect.protocol_level == level
    assert subscribe == mqtt.Subscribe(1, [mqtt.Subscription("dev/+/cmd", qos=1)])
    assert puback == mqtt.PubAck(1)
    assert disconnect == mqtt.Disconnect()


# ----------------------------------------------------------------------------------------------- DNS


def _n(text: str) -> dns.Name:
    return dns.Name.from_text(text)


_SOA = dns.SOA(_n("ns.test"), _n("hostmaster.test"), 2024010101, 3600, 600, 86400, 300)
# The zone "test.": owner name (lower case) -> records; CNAMEs are followed by the server.
_ZONE: dict[dns.Name, list[dns.Rdata]] = {
    _n("a.test"): [
        dns.A(ipaddress.IPv4Address("192.0.2.1")),
        dns.A(ipaddress.IPv4Address("192.0.2.2")),
        dns.AAAA(ipaddress.IPv6Address("2001:db8::1")),
    ],
    _n("mail.test"): [dns.MX(10, _n("mx1.test")), dns.MX(20, _n("mx2.test"))],
    _n("txt.test"): [dns.TXT((b"hello world", b'say "hi"; ok'))],
    _n("_sip._tcp.test"): [dns.SRV(10, 60, 5060, _n("sip.test"))],
    _n("www.test"): [dns.CNAME(_n("web.test"))],
    _n("web.test"): [dns.CNAME(_n("a.test"))],
    # 40 TXT records of 100 octets: ~4.4 kB, more than dig's 1232-octet EDNS buffer.
    _n("big.test"): [dns.TXT((b"%02d" % i + b"x" * 98,)) for i in range(40)],
}
_SERVER_COOKIE = bytes.fromhex("0100000065a1b2c3d4e5f60718293a4b")  # 16 octets (RFC 7873 4.2)


def _answer(query: dns.Message) -> dns.Message:
    """The authoritative answer for "test." to ``query``."""
    response = dns.make_response(query)
    response.header.aa = True
    question = query.question[0]
    name = question.name
    while True:
        records = _ZONE.get(name.lower())
        if records is None:
            response.header.rcode = dns.Rcode.NXDOMAIN
            response.authority.append(dns.ResourceRecord(_n("test"), _SOA, 300))
            break
        if len(records) == 1 and isinstance(records[0], dns.CNAME) and question.qtype != dns.RRType.CNAME:
            response.answer.append(dns.ResourceRecord(name, records[0], 60))
            name = records[0].target
            continue
        response.answer += [dns.ResourceRecord(name, r, 300) for r in records if r.rtype == question.qtype]
        break
    if query.edns is not None:
        assert response.edns is not None
        subnet = query.edns.client_subnet
        if subnet is not None:  # RFC 7871 7.2.1: echo the option, with the scope we used
            response.edns.options.append(dns.ClientSubnet(subnet.network, subnet.network.prefixlen))
        for option in query.edns.options:
            if option.code == dns.EdnsOptionCode.COOKIE:  # RFC 7873 5.2.3: client cookie + ours
                assert isinstance(option, dns.Option)
                response.edns.options.append(dns.Option(option.code, option.data[:8] + _SERVER_COOKIE))
    return response


@dataclass
class _DnsServer:
    """UDP and TCP on one port, one thread; records what it received and sent as (transport, octets)."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    tcp_connections: int = 0
    threads: _Threads = field(default_factory=_Threads)

    def start(self) -> int:
        for _ in range(50):  # a UDP port whose TCP twin is also free
            self.udp = _listener(socket.SOCK_DGRAM)
            self.port = int(self.udp.getsockname()[1])
            try:
                self.tcp = _listener(socket.SOCK_STREAM, self.port)
                break
            except OSError:
                self.udp.close()
        else:
            raise AssertionError("no port free for both UDP and TCP")
        self.threads.spawn("dns", self._run)
        return self.port

    def close(self) -> None:
        try:
            self.threads.close()
        finally:
            self.udp.close()
            self.tcp.close()

    def _run(self) -> None:
        streams: dict[socket.socket, dns.StreamDecoder] = {}
        with selectors.DefaultSelector() as sel:
            sel.register(self.udp, selectors.EVENT_READ)
            sel.register(self.tcp, selectors.EVENT_READ)
            try:
                while not self.threads.stop.is_set():
                    for key, _ in sel.select(0.05):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if sock is self.udp:
                            data, peer = sock.recvfrom(65535)
                            self.received.append(("udp", data))
                            query = dns.decode(data)
                            reply = dns.encode(_answer(query), max_size=dns.max_udp_size(query))
                            self.sent.append(("udp", reply))
                            sock.sendto(reply, peer)
                        elif sock is self.tcp:
                            conn, _ = sock.accept()
                            self.tcp_connections += 1
                            conn.settimeout(TIMEOUT)
                            streams[conn] = dns.StreamDecoder()
                            sel.register(conn, selectors.EVENT_READ)
                        elif self._serve_tcp(sock, streams[sock]):
                            sel.unregister(sock)
                            del streams[sock]
                            sock.close()
            finally:
                for conn in streams:
                    conn.close()

    def _serve_tcp(self, conn: socket.socket, decoder: dns.StreamDecoder) -> bool:
        """Read what arrived and answer every whole query; True once the client has closed."""
        try:
            decoder.receive_data(conn.recv(65535))
        except ConnectionResetError:
            return True
        while True:
            raw = decoder.next_frame()
            if raw is dns.CLOSED:
                return True
            if raw is dns.NEED_DATA:
                return False
            self.received.append(("tcp", raw))
            reply = dns.encode(_answer(dns.decode(raw)))
            self.sent.append(("tcp", reply))
            conn.sendall(dns.frame(reply))


@pytest.fixture(scope="module")
def dns_server() -> Iterator[_DnsServer]:
    require("dig")
    server = _DnsServer()
    server.start()
    yield server
    server.close()


@dataclass
class _Dig:
    """dig's presentation output, parsed."""

    text: str
    status: str
    flags: set[str]
    sections: dict[str, list[list[str]]]
    opt: list[str]

    def records(self, section: str = "ANSWER") -> list[tuple[str, ...]]:
        """(name, type, rdata) of each record of a section, TTL and class dropped."""
        return [(f[0], f[3], f[4]) for f in self.sections.get(section, [])]


def _dig(server: _DnsServer, *args: str) -> _Dig:
    run = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(server.port), "+tries=1", "+time=2", *args],
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=False,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    text = run.stdout
    status = re.search(r"status: (\w+),", text)
    flags = re.search(r";; flags:([a-z ]*);", text)
    assert status, text
    assert flags, text
    sections: dict[str, list[list[str]]] = {}
    opt: list[str] = []
    current: list[Any] | None = None
    for line in text.splitlines():
        if m := re.fullmatch(r";; (\w+) SECTION:", line):
            current = sections.setdefault(m[1], [])
        elif line == ";; OPT PSEUDOSECTION:":
            current = opt
        elif not line.strip():
            current = None
        elif current is opt:
            opt.append(line.lstrip("; "))
        elif current is not None:
            current.append(line.split(None, 4))
    return _Dig(text, status[1], set(flags[1].split()), sections, opt)


def _last_query(server: _DnsServer, transport: str = "udp") -> dns.Message:
    return dns.decode(next(data for kind, data in reversed(server.received) if kind == transport))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dns_dig_reads_our_answers(dns_server: _DnsServer, transport: str) -> None:
    tcp = ["+tcp"] if transport == "tcp" else []
    a = _dig(dns_server, "a.test", "A", *tcp)
    assert (a.status, a.flags) == ("NOERROR", {"qr", "aa", "rd"})
    assert a.records() == [("a.test.", "A", "192.0.2.1"), ("a.test.", "A", "192.0.2.2")]
    assert a.sections["ANSWER"][0][1] == "300"
    assert a.sections["QUESTION"] == [[";a.test.", "IN", "A"]]

    assert _dig(dns_server, "a.test", "AAAA", *tcp).records() == [("a.test.", "AAAA", "2001:db8::1")]
    # Owner names keep the query's case.
    assert _dig(dns_server, "MAIL.test", "MX", *tcp).records() == [
        ("MAIL.test.", "MX", "10 mx1.test."),
        ("MAIL.test.", "MX", "20 mx2.test."),
    ]
    assert _dig(dns_server, "txt.test", "TXT", *tcp).records() == [
        ("txt.test.", "TXT", '"hello world" "say \\"hi\\"; ok"')
    ]
    assert _dig(dns_server, "_sip._tcp.test", "SRV", *tcp).records() == [
        ("_sip._tcp.test.", "SRV", "10 60 5060 sip.test.")
    ]
    chain = _dig(dns_server, "www.test", "A", *tcp)
    assert chain.records() == [
        ("www.test.", "CNAME", "web.test."),
        ("web.test.", "CNAME", "a.test."),
        ("a.test.", "A", "192.0.2.1"),
        ("a.test.", "A", "192.0.2.2"),
    ]

    missing = _dig(dns_server, "missing.test", "A", *tcp)
    assert missing.status == "NXDOMAIN"
    assert missing.records() == []
    assert missing.records("AUTHORITY") == [
        ("test.", "SOA", "ns.test. hostmaster.test. 2024010101 3600 600 86400 300")
    ]

    # The query dig sent, decoded by us: its question, EDNS buffer and a client cookie (RFC 7873).
    query = _last_query(dns_server, transport)
    assert query.question == [dns.Question(_n("missing.test"), dns.RRType.A, dns.RRClass.IN)]
    assert (query.header.qr, query.header.rd, query.header.opcode) == (False, True, dns.Opcode.QUERY)
    assert query.edns is not None
    assert (query.edns.payload, query.edns.version, query.edns.dnssec_ok) == (1232, 0, False)
    cookies = [o for o in query.edns.options if o.code == dns.EdnsOptionCode.COOKIE]
    # dig 9.11 and later send a client cookie by default; we answer with it and a server cookie.
    assert len(cookies) == 1
    assert isinstance(cookies[0], dns.Option)
    assert len(cookies[0].data) == 8
    assert f"COOKIE: {cookies[0].data.hex()}{_SERVER_COOKIE.hex()} (good)" in missing.opt
    assert "EDNS: version: 0, flags:; udp: 1232" in missing.opt


def test_dns_norecurse_subnet_and_no_edns(dns_server: _DnsServer) -> None:
    plain = _dig(dns_server, "a.test", "A", "+norecurse")
    assert plain.flags == {"qr", "aa"}  # RD not set by dig, not copied by us
    assert _last_query(dns_server).header.rd is False

    subnet = _dig(dns_server, "a.test", "A", "+subnet=198.51.100.0/24")
    query = _last_query(dns_server)
    assert query.edns is not None
    assert query.edns.client_subnet == dns.ClientSubnet(ipaddress.ip_network("198.51.100.0/24"), 0)
    assert "CLIENT-SUBNET: 198.51.100.0/24/24" in subnet.opt  # echoed with scope 24

    six = _dig(dns_server, "a.test", "AAAA", "+subnet=2001:db8:42::/48", "+bufsize=4096", "+nocookie")
    query = _last_query(dns_server)
    assert query.edns is not None
    assert query.edns.payload == 4096
    assert query.edns.options == [dns.ClientSubnet(ipaddress.ip_network("2001:db8:42::/48"), 0)]
    assert "CLIENT-SUBNET: 2001:db8:42::/48/48" in six.opt
    assert six.records() == [("a.test.", "AAAA", "2001:db8::1")]

    bare = _dig(dns_server, "a.test", "A", "+noedns")
    assert _last_query(dns_server).edns is None
    assert bare.opt == []  # no OPT record back (RFC 6891 7: only when the query had one)
    assert len(bare.records()) == 2


def test_dns_two_queries_on_one_tcp_connection(dns_server: _DnsServer) -> None:
    connections, before = dns_server.tcp_connections, len(dns_server.received)
    # Options after a name apply to that query only: DO bit, an empty NSID, padding to 64 octets.
    result = _dig(
        dns_server, "+tcp", "+keepopen", "a.test", "A", "mail.test", "MX", "+dnssec", "+nsid", "+padding=64"
    )
    assert dns_server.tcp_connections == connections + 1
    assert result.text.count(";; Got answer:") == 2
    assert "EDNS: version: 0, flags: do; udp: 1232" in result.text  # DO copied (RFC 3225 3)
    assert "10 mx1.test." in result.text
    first, second = (dns.decode(raw) for _, raw in dns_server.received[before:])
    assert [q.question[0].name for q in (first, second)] == [_n("a.test"), _n("mail.test")]
    assert first.edns is not None
    assert second.edns is not None
    assert (first.edns.dnssec_ok, second.edns.dnssec_ok) == (False, True)
    codes = [o.code for o in second.edns.options]
    assert dns.EdnsOptionCode.NSID in codes
    assert dns.EdnsOptionCode.PADDING in codes
    assert dns.Option(dns.EdnsOptionCode.NSID, b"") in second.edns.options
    assert len(dns_server.received[-1][1]) % 64 == 0  # the padding did its job, and we decoded past it


def test_dns_truncated_udp_answer_makes_dig_retry_over_tcp(dns_server: _DnsServer) -> None:
    before = len(dns_server.sent)
    result = _dig(dns_server, "big.test", "TXT")
    assert ";; Truncated, retrying in TCP mode." in result.text
    assert "tc" not in result.flags
    assert len(result.records()) == 40
    assert result.records()[39] == ("big.test.", "TXT", '"39' + "x" * 98 + '"')
    exchanges = dns_server.sent[before:]
    assert [kind for kind, _ in exchanges] == ["udp", "tcp"]
    udp_reply = dns.decode(exchanges[0][1])
    assert udp_reply.header.tc is True
    assert len(exchanges[0][1]) <= 1232
    assert udp_reply.edns is not None  # RFC 6891 7: the OPT record stays in a truncated answer
    assert 0 < len(udp_reply.answer) < 40

    # Without EDNS the limit is 512 octets; +ignore shows the truncated answer as it came.
    cut = _dig(dns_server, "big.test", "TXT", "+noedns", "+ignore")
    assert "tc" in cut.flags
    assert 0 < len(cut.records()) < 5
    assert len(dns_server.sent[-1][1]) <= 512


# --------------------------------------------------------------------------------------------- SOCKS


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path} host={self.headers['Host']}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _JoinedHTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() then joins the request threads


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    server = _JoinedHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="http", daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both sides have closed; a half-close is passed on."""
    other = {a: b, b: a}
    deadline = time.monotonic() + 10
    with selectors.DefaultSelector() as sel:
        for s in other:
            sel.register(s, selectors.EVENT_READ)
        while other and time.monotonic() < deadline:
            for key, _ in sel.select(0.1):
                src = key.fileobj
                assert isinstance(src, socket.socket)
                try:
                    data = src.recv(65536)
                    if data:
                        other[src].sendall(data)
                        continue
                    other[src].shutdown(socket.SHUT_WR)
                except OSError:  # a reset: the conversation is over either way
                    return
                sel.unregister(src)
                del other[src]


@dataclass
class _SocksServer:
    """SOCKS4/4a/5 through ``socks.Connection(Role.SERVER)``; ``users`` set means RFC 1929 is required."""

    users: dict[bytes, bytes] | None = None
    events: list[socks.Event] = field(default_factory=list)
    threads: _Threads = field(default_factory=_Threads)

    def start(self) -> int:
        self.sock = _listener()
        self.port = int(self.sock.getsockname()[1])
        self.threads.spawn("socks", _accept_loop, self.threads, self.sock, self._serve)
        return self.port

    def close(self) -> None:
        try:
            self.threads.close()
        finally:
            self.sock.close()

    def _serve(self, conn: socket.socket) -> None:
        c = socks.Connection(socks.Role.SERVER)
        while c.state is not socks.State.ESTABLISHED:
            try:
                event = c.next_event()
            except socks.RemoteProtocolError:
                conn.sendall(c.data_to_send())
                raise
            if event is socks.NEED_DATA:
                c.receive_data(conn.recv(4096))
                continue
            if event is socks.CLOSED:
                return
            assert not isinstance(event, socks.Sentinel | socks.Data), (
                event
            )  # PAUSED: never, we answer at once
            self.events.append(event)
            reply = self._decide(event)
            if isinstance(reply, socket.socket):
                with reply:
                    host, port = reply.getsockname()
                    bound = socks.Address(ipaddress.IPv4Address(host), port)
                    ok = socks.Reply(address=bound) if c.version == socks.SOCKS5 else socks.Socks4Reply()
                    conn.sendall(c.send(ok))
                    early, _ = c.trailing_data  # bytes sent with the request belong to the tunnel
                    reply.sendall(early)
                    _relay(conn, reply)
                return
            conn.sendall(c.send(reply))

    def _decide(self, event: socks.Message) -> socks.Message | socket.socket:
        """The policy: our answer to the client's message, or the upstream socket for a request."""
        methods = socks.AuthMethod
        if isinstance(event, socks.Greeting):
            wanted = methods.NO_AUTHENTICATION if self.users is None else methods.USERNAME_PASSWORD
            return socks.MethodSelection(wanted if wanted in event.methods else methods.NO_ACCEPTABLE_METHODS)
        if isinstance(event, socks.UserPassRequest):
            assert self.users is not None
            return socks.UserPassReply(0 if self.users.get(event.username) == event.password else 1)
        assert isinstance(event, (socks.Request, socks.Socks4Request)), event
        host = "127.0.0.1" if event.address.host == "localhost" else str(event.address.host)
        try:
            return socket.create_connection((host, event.address.port), timeout=TIMEOUT)
        except OSError:
            if isinstance(event, socks.Socks4Request):
                return socks.Socks4Reply(socks.Socks4Code.REJECTED)
            return socks.Reply(socks.ReplyCode.CONNECTION_REFUSED)


@pytest.fixture
def socks_server(request: pytest.FixtureRequest) -> Iterator[_SocksServer]:
    require("curl")
    server = _SocksServer(users=getattr(request, "param", None))
    server.start()
    yield server
    server.close()


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args],
        capture_output=True,
        timeout=TIMEOUT + 10,
        check=False,
        text=True,
        env=_clean_env(),
    )


@pytest.mark.parametrize(
    ("option", "host", "request_type"),
    [
        # IPv4 address types: curl resolves; a domain name (ATYP X'03', SOCKS4a's 0.0.0.x): we resolve.
        ("--socks5", "127.0.0.1", socks.Request),
        ("--socks5-hostname", "localhost", socks.Request),
        ("--socks4", "127.0.0.1", socks.Socks4Request),
        ("--socks4a", "localhost", socks.Socks4Request),
    ],
)
def test_socks_curl_fetches_through_our_server(
    socks_server: _SocksServer,
    http_port: int,
    option: str,
    host: str,
    request_type: type[socks.Request | socks.Socks4Request],
) -> None:
    run = _curl(option, f"127.0.0.1:{socks_server.port}", f"http://{host}:{http_port}/page?x=1")
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"hello /page?x=1 host={host}:{http_port}\n"
    request = socks_server.events[-1]
    assert request == request_type(socks.Command.CONNECT, socks.Address.of(host, http_port))
    assert isinstance(request.address.host, str) == (host == "localhost")
    if option.startswith("--socks5"):  # curl built with GSS-API offers X'01' too; we pick X'00'
        greeting = socks_server.events[0]
        assert isinstance(greeting, socks.Greeting)
        assert socks.AuthMethod.NO_AUTHENTICATION in greeting.methods
        assert socks.AuthMethod.USERNAME_PASSWORD not in greeting.methods


@pytest.mark.parametrize("socks_server", [{b"user": b"pass"}], indirect=True)
def test_socks5_username_password(socks_server: _SocksServer, http_port: int) -> None:
    url = f"http://127.0.0.1:{http_port}/secret"
    run = _curl("--socks5", f"user:pass@127.0.0.1:{socks_server.port}", url)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("hello /secret ")
    greeting, auth, request = socks_server.events
    assert isinstance(greeting, socks.Greeting)
    assert socks.AuthMethod.USERNAME_PASSWORD in greeting.methods
    assert auth == socks.UserPassRequest(b"user", b"pass")
    assert isinstance(request, socks.Request)

    socks_server.events.clear()
    refused = _curl("--socks5", f"user:wrong@127.0.0.1:{socks_server.port}", url)
    assert refused.returncode == 97, refused.stderr  # CURLE_PROXY
    assert "User was rejected by the SOCKS5 server (1 1)" in refused.stderr  # our VER 1, STATUS 1
    assert refused.stdout == ""
    assert socks_server.events == [greeting, socks.UserPassRequest(b"user", b"wrong")]  # no request followed

    socks_server.events.clear()
    anonymous = _curl("--socks5", f"127.0.0.1:{socks_server.port}", url)
    assert anonymous.returncode == 97, anonymous.stderr
    assert "No authentication method was acceptable" in anonymous.stderr  # our X'FF'
    [greeting] = socks_server.events
    assert isinstance(greeting, socks.Greeting)
    assert socks.AuthMethod.USERNAME_PASSWORD not in greeting.methods


@pytest.mark.parametrize("option", ["--socks5", "--socks4"])
def test_socks_refused_upstream_fails_curl(socks_server: _SocksServer, option: str) -> None:
    closed = free_port()  # nothing listens there
    run = _curl(option, f"127.0.0.1:{socks_server.port}", f"http://127.0.0.1:{closed}/")
    assert run.returncode == 97, run.stderr
    if option == "--socks5":  # REP X'05' connection refused
        assert "Can't complete SOCKS5 connection to 127.0.0.1. (5)" in run.stderr
    else:  # CD 91 request rejected or failed
        assert "(91), request rejected or failed" in run.stderr
    request = socks_server.events[-1]
    assert isinstance(request, socks.Request | socks.Socks4Request)
    assert request.address == socks.Address.of("127.0.0.1", closed)
