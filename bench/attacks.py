#!/usr/bin/env python3
"""Hostile requests at full size against a running release server.

For each attack: the time until the server refused it, the server's peak
resident memory while it ran (sampled every 10 ms from /proc), and the latency
of redirects sent throughout it (a steady 50 per second), as p50 / p99.
Run by bench/attacks.sh, which starts the server on demo data.
Usage: attacks.py BASE_URL SERVER_PID API_KEY LINK_CODE [storm-only]
"""

import base64
import hashlib
import hmac
import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse

BASE, PID, KEY, CODE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
HOST = urllib.parse.urlparse(BASE)


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """Peak RSS and redirect latencies while an attack runs."""

    def __init__(self):
        self.stop = threading.Event()
        self.peak = rss_kib()
        self.latencies = []
        self.failures = 0

    def __enter__(self):
        self.threads = [threading.Thread(target=self.memory), threading.Thread(target=self.redirects)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def memory(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.01)

    def redirects(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=10)
                connection.request("GET", f"/r/{CODE}", headers={"User-Agent": "Mozilla/5.0 (bench)"})
                status = connection.getresponse().status
                connection.close()
                if status != 302:
                    self.failures += 1
                else:
                    self.latencies.append((time.monotonic() - started) * 1000)
            except OSError:
                self.failures += 1
            time.sleep(max(0, 0.02 - (time.monotonic() - started)))

    def report(self, name, refused_in, outcome, baseline_kib):
        lat = sorted(self.latencies)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
        print(
            f"| {name} | {outcome} | {refused_in:.0f} ms | {(self.peak - baseline_kib) / 1024:+.0f} MB "
            f"({self.peak / 1024:.0f} MB) | {p(0.5):.1f} / {p(0.99):.1f} ms | {len(lat)} / {self.failures} |",
            flush=True,
        )


def graphql(query, key=KEY, timeout=120):
    connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=timeout)
    body = json.dumps({"query": query})
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    started = time.monotonic()
    connection.request("POST", "/graphql", body=body, headers=headers)
    response = connection.getresponse()
    text = response.read()
    took = (time.monotonic() - started) * 1000
    connection.close()
    try:
        error = json.loads(text)["errors"][0]["extensions"]
        outcome = f"{response.status} {error.get('code')} {error.get('limit', '')}".strip()
    except (ValueError, KeyError, IndexError, TypeError):
        outcome = str(response.status)
    return took, outcome


def attack(name, run):
    time.sleep(1)
    baseline = rss_kib()
    with Sampler() as sampler:
        time.sleep(0.5)
        refused_in, outcome = run()
        time.sleep(0.5)
    sampler.report(name, refused_in, outcome, baseline)


def fragment_chain(depth=25):
    query = "query { ...F0 }\n" + "".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}\n" for n in range(depth)
    )
    return query + f"fragment F{depth} on Query {{ __typename }}\n"


def huge_body(announced):
    """POSTs 1 GB (announced, or streamed in chunks without a length)."""
    connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=120)
    started = time.monotonic()
    connection.putrequest("POST", "/graphql")
    connection.putheader("Content-Type", "application/json")
    if announced:
        connection.putheader("Content-Length", str(1 << 30))
    else:
        connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b" " * (1 << 20)
    sent = 0
    try:
        for _ in range(1024):
            if announced:
                connection.send(chunk)
            else:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        if not announced:
            connection.send(b"0\r\n\r\n")
        status = connection.getresponse().status
    except OSError:
        # The server answered and closed while the body was still coming.
        try:
            status = connection.getresponse().status
        except Exception:
            status = "closed"
    took = (time.monotonic() - started) * 1000
    return took, f"{status} after {sent >> 20} MB sent"


def slow_clients(count=900, seconds=12, source="127.0.0.2"):
    """`count` connections from one address (not the timed redirects') that send a
    header line every second and never finish."""
    sockets = []
    started = time.monotonic()
    for _ in range(count):
        try:
            s = socket.create_connection((HOST.hostname, HOST.port), timeout=5, source_address=(source, 0))
            s.sendall(b"GET /graphql HTTP/1.1\r\nHost: x\r\n")
            sockets.append(s)
        except OSError:
            break
    closed = 0
    while time.monotonic() - started < seconds:
        for s in list(sockets):
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                sockets.remove(s)
                closed += 1
        time.sleep(1)
    for s in sockets:
        s.close()
    return (time.monotonic() - started) * 1000, f"{count} held; {closed} closed by the server"


def storm(clients=16, seconds=10):
    """Concurrent report queries from one key, as expensive as the limits allow."""
    ranges = [f'k{n}: kpis(dateRange: {{start: "2020-01-{n % 28 + 1:02}", end: "2026-11-{n % 28 + 1:02}"}}) {{ clicks totalSales }}' for n in range(20)]
    query = "{ " + " ".join(ranges) + " }"
    outcomes = {}
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            _, outcome = graphql(query)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = ", ".join(f"{n}× {o}" for o, n in sorted(outcomes.items()))
    return seconds * 1000, summary


def raw_request(text, source="127.0.0.1", timeout=10):
    """Sends `text` on a fresh connection from `source`; the status (0 when closed without one)."""
    s = socket.create_connection((HOST.hostname, HOST.port), timeout=timeout, source_address=(source, 0))
    try:
        s.sendall(text)
        answer = s.recv(65536)
        return int(answer[9:12]) if answer[:5] == b"HTTP/" else 0
    except OSError:
        return 0
    finally:
        s.close()


def deep_nesting(depth, lists, method):
    value = ("[" * depth + "1" + "]" * depth) if lists else ("{a:" * depth + "1" + "}" * depth)
    query = "{ __typename(x: " + value + ") }"
    started = time.monotonic()
    if method == "GET":
        path = "/graphql?query=" + urllib.parse.quote(query)
        status = raw_request(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        took = (time.monotonic() - started) * 1000
        return took, f"{status}, then /livez {livez()}"
    took, outcome = graphql(query, key=None)
    return took, f"{outcome}, then /livez {livez()}"


def livez():
    try:
        connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=5)
        connection.request("GET", "/livez")
        return connection.getresponse().status
    except OSError:
        return "down"


def silent_connections(count=1100, seconds=12, source="127.0.0.2"):
    """`count` connections from one address that never send a byte; the redirects
    timed meanwhile come from another address."""
    sockets, refused = [], 0
    started = time.monotonic()
    for _ in range(count):
        try:
            sockets.append(socket.create_connection((HOST.hostname, HOST.port), timeout=5, source_address=(source, 0)))
        except OSError:
            refused += 1
    closed = set()
    while time.monotonic() - started < seconds:
        for n, s in enumerate(sockets):
            if n in closed:
                continue
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed.add(n)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(n)
        time.sleep(0.5)
    for s in sockets:
        s.close()
    return (time.monotonic() - started) * 1000, f"{len(sockets)} connected, {refused} refused; {len(closed)} closed by the server"


def nodes_cost():
    ids = json.dumps([f"offer_{n}" for n in range(1, 101)])
    query = ("{ nodes(ids: " + ids + ") { ... on Offer { memberships(first: 100) { nodes { kpis { clicks } "
             "clicks(first: 100) { nodes { id } } } } } } }")
    return graphql(query)


def webhook(slug, body, signature, source):
    headers = (f"POST /webhooks/{slug}/orders/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"X-Shopify-Hmac-Sha256: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return raw_request(headers.encode() + body, source=source)


def unsigned_flood(unsigned=1000, signed=50):
    """Unsigned order webhooks from one address, then signed ones from another."""
    secret = "bench-webhook-secret-0123456789"
    graphql('mutation { setWebhookSecret(input: { secret: "%s" }) { webhookUrlTemplate } }' % secret)
    started = time.monotonic()
    refused = {}
    for n in range(unsigned):
        body = json.dumps({"event": "order.created", "order_id": f"FLOOD-{n}", "amount": "5.00"}).encode()
        status = webhook("demo", body, "bm90IGEgc2lnbmF0dXJl", "127.0.0.3")
        refused[status] = refused.get(status, 0) + 1
    landed = {}
    for n in range(signed):
        body = json.dumps({"event": "order.created", "order_id": f"SIGNED-{time.time_ns()}-{n}", "amount": "5.00"}).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        status = webhook("demo", body, signature, "127.0.0.4")
        landed[status] = landed.get(status, 0) + 1
    took = (time.monotonic() - started) * 1000
    summary = lambda counts: ", ".join(f"{n}× {s}" for s, n in sorted(counts.items()))
    return took, f"unsigned: {summary(refused)}; signed after: {summary(landed)}"


def bad_keys(count=2000, source="127.0.0.5"):
    """Guessed API keys from one address, on one kept-alive connection."""
    outcomes = {}
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=10, source_address=(source, 0))
    for n in range(count):
        connection.request("POST", "/graphql", body='{"query":"{ viewer { role } }"}',
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer stk_guess{n}"})
        response = connection.getresponse()
        response.read()
        outcomes[response.status] = outcomes.get(response.status, 0) + 1
    took = (time.monotonic() - started) * 1000
    return took, ", ".join(f"{n}× {s}" for s, n in sorted(outcomes.items()))


def persisted_flood(count=100_000, source="127.0.0.6"):
    """Anonymous automatic persisted query registrations, each a new query."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=10, source_address=(source, 0))
    ok = 0
    for n in range(count):
        query = "{ __typename a%d: __typename }" % n
        digest = hashlib.sha256(query.encode()).hexdigest()
        body = json.dumps({"query": query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}})
        connection.request("POST", "/graphql", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        ok += response.status == 200
    took = (time.monotonic() - started) * 1000
    return took, f"{ok} of {count} registered (200)"


if sys.argv[5:] == ["round-2"]:
    print("| attack | answer | time to answer | peak RSS over baseline (peak) | redirects during it, p50 / p99 | redirects ok / failed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for depth in (1500, 100_000):
        attack(f"input object nested {depth:,} deep, POST, no key", lambda: deep_nesting(depth, False, "POST"))
        attack(f"list nested {depth:,} deep, GET, no key", lambda: deep_nesting(depth, True, "GET"))
    attack("1,100 silent connections from one address, 12 s", silent_connections)
    attack("`nodes` with 100 offer ids × 100 memberships × 100 clicks", nodes_cost)
    attack("1,000 unsigned order webhooks from one address, then 50 signed from another", unsigned_flood)
    attack("2,000 guessed API keys from one address, one connection", bad_keys)
    attack("100,000 anonymous persisted-query registrations", persisted_flood)
    sys.exit(0)

if sys.argv[5:] == ["signature-flood-only"]:
    attack("1,000 unsigned order webhooks from one address, then 50 signed from another", unsigned_flood)
    sys.exit(0)

if sys.argv[5:] == ["storm-only"]:
    attack("report storm with the rate limit off: 16 clients × 20 `kpis` over 7 years, 10 s", storm)
    sys.exit(0)
print("| attack | answer | time to answer | peak RSS over baseline (peak) | redirects during it, p50 / p99 | redirects ok / failed |")
print("| --- | --- | --- | --- | --- | --- |")
attack("fragment chain, depth 25 (1.2 KB, 33M fields expanded), no key", lambda: graphql(fragment_chain(25), key=None))
attack("5,000 aliased `kpis`, different ranges", lambda: graphql(
    "{ " + " ".join(f'k{n}: kpis(dateRange: {{start: "2025-01-01", end: "2026-{n % 12 + 1:02}-{n % 28 + 1:02}"}}) {{ clicks }}' for n in range(5000)) + " }"))
attack("1,200 aliased `kpiSeries` by day", lambda: graphql(
    "{ " + " ".join(f"s{n}: kpiSeries(interval: DAY) {{ start kpis {{ clicks }} }}" for n in range(1200)) + " }"))
attack("300 aliased `kpis` (under the body cap)", lambda: graphql(
    "{ " + " ".join(f"k{n}: kpis {{ clicks }}" for n in range(300)) + " }"))
attack("nested connections 100 × 100 × 100", lambda: graphql(
    "{ offers(first: 100) { nodes { memberships(first: 100) { nodes { clicks(first: 100) { nodes { id } } } } } } }"))
attack("1 GB body, announced", lambda: huge_body(True))
attack("1 GB body, streamed without a length", lambda: huge_body(False))
attack("900 slow clients from one address holding half-sent headers, 12 s", slow_clients)
attack("report storm: 16 clients × 20 `kpis` over 7 years, one key, 10 s", storm)
