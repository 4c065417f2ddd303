"""scripts/bench/gateway: the OpenAI-compatible gateway next to LiteLLM's proxy, in one run (issue 21,
item 12). The same fixed-answer upstream (nginx, gateway_fixture.FakeUpstream) is called directly,
through Atelier and through LiteLLM, all on 127.0.0.1:
  - wrk at 64 connections (-t2) and at 1 (-t1), POST /v1/chat/completions non-streaming and
    streaming (13 chunk events, the last one the usage chunk, then [DONE]): requests/s, p50, p99, and the p50 each proxy
    adds at one connection over calling the upstream directly. --rounds rounds, the clients in a
    rotating order within each, medians shown;
  - time to the first streamed body byte over one keep-alive connection, --ttfb-samples requests
    per client, in blocks of 30 taken in turns (each block's first five not counted), median and
    p99; also one request per client in turns, shown beside it (there each request meets the other
    proxy's leftover work on the shared cores);
  - failover: a first provider that refuses connections (a closed port) or answers 500, the second
    healthy. The cost is the time of a request that meets a failing provider no earlier request
    has found (a fresh pair each time, --failover-samples of them) minus a healthy request's
    median; then --failover-requests requests at 16 at once through one such pair count the
    answers that reach the client as errors (a non-200, or a stream without [DONE]);
  - CPU seconds and peak RSS of Atelier and LiteLLM (their whole process trees, from /proc).
LiteLLM runs as its users start it: `litellm --config cfg.yaml` with its default worker count (1)
unless --litellm-workers says otherwise, a master key, and for failover two deployments of one
model_name with `order: 1` / `order: 2` (its deployment priority) and router_settings num_retries 2.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gateway_fixture import Atelier, FakeUpstream, atelier_binary, dist_version, fastest_python, venv_python  # noqa: E402
from http_bench import children, free_port, wait_ready  # noqa: E402

MASTER_KEY = "sk-bench-master-key"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MODES = ("json", "sse")
MODE_TITLES = {"json": "non-streaming", "sse": "streaming"}
# Failing first providers: a port nothing listens on, and nginx answering 500.
SCENARIOS = {"dead": "connection refused", "failing": "HTTP 500"}
FAILOVER_CONCURRENCY = 16
TARGETS = {"added_p50_ms": 0.5, "rps_ratio": 20.0, "ttfb_ms": 1.0, "failover_ms": 100.0}


def request_body(model, mode):
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello in one sentence."}], "max_tokens": 64}
    if mode == "sse":
        body.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(body, separators=(",", ":"))


def failover_model(scenario, mode, index):
    return f"fo-{scenario}-{mode}-{index}"


# --- processes ---------------------------------------------------------------------------------


def tree(pid):
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(children(current))
    return pids


def cpu_seconds(pids):
    """user + sys of each process (all its threads), from /proc/<pid>/stat fields 14 and 15."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            pass
    return total


def peak_rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
        except OSError:
            pass
    return total / 1024


class LiteLLM:
    """`litellm --config` on a JSON config (JSON is YAML) with the same models Atelier serves."""

    def __init__(self, python, upstream, failover_count, workers, work):
        def deployment(model, base, order=None):
            params = {"model": "openai/" + model, "api_base": base, "api_key": "sk-bench-upstream-key"}
            if order is not None:
                params["order"] = order
            return {"model_name": model, "litellm_params": params}

        models = [deployment("m", upstream.url("json")), deployment("ms", upstream.url("sse"))]
        for scenario in SCENARIOS:
            for mode in MODES:
                for index in range(failover_count):
                    name = failover_model(scenario, mode, index)
                    models += [deployment(name, upstream.url(scenario), order=1), deployment(name, upstream.url(mode), order=2)]
        self.config = {"model_list": models, "general_settings": {"master_key": MASTER_KEY}, "router_settings": {"num_retries": 2}}
        path = os.path.join(work, "litellm.yaml")
        with open(path, "w") as f:
            json.dump(self.config, f, indent=1)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(work, "litellm.log")
        command = [os.path.join(os.path.dirname(python), "litellm"), "--config", path, "--host", "127.0.0.1", "--port", str(self.port)]
        if workers:
            command += ["--num_workers", str(workers)]
        # No network here: without this LiteLLM tries to download its model price list at start.
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        env.pop("DATABASE_URL", None)
        started = time.monotonic()
        self.proc = subprocess.Popen(command, env=env, cwd=work, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        try:
            wait_ready(self.base + "/health/liveliness", self.proc, timeout=180)
        except SystemExit as error:
            raise SystemExit(f"LiteLLM did not start ({error}); its log: {self.log}") from None
        self.startup_s = time.monotonic() - started

    def pids(self):
        return tree(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Client:
    """One way to reach the upstream's answers: `url(mode)` and the headers and model to send."""

    def __init__(self, name, urls, models, token=None, pids=None):
        self.name = name
        self.urls = urls
        self.models = models
        self.token = token
        self.pids = pids or (lambda: [])
        self.cpu = 0.0
        self.requests = 0

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def endpoint(self, mode):
        """(host, port, path) of the chat completions of `mode`."""
        rest = self.urls[mode].split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        return host, int(port), "/" + path + "/chat/completions"


# --- wrk ---------------------------------------------------------------------------------------


def lua_script(work, client, mode):
    path = os.path.join(work, f"wrk-{client.name}-{mode}.lua")
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in client.headers().items()]
    lines.append("wrk.body = " + json.dumps(request_body(client.models[mode], mode)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def wrk(url, seconds, connections, script):
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", script, url]
    out = subprocess.run(command, capture_output=True, text=True).stdout
    return parse_wrk(out)


def parse_wrk(out):
    import re  # noqa: PLC0415 - only the parser needs it

    def duration_ms(label):
        found = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", out)
        if not found:
            raise SystemExit(f"could not read wrk's {label!r} from:\n{out}")
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": duration_ms("50%"),
        "p99_ms": duration_ms("99%"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0),
    }


def measured_wrk(client, mode, seconds, connections, script):
    pids = client.pids()
    before = cpu_seconds(pids)
    result = wrk(client.urls[mode] + "/chat/completions", seconds, connections, script)
    client.cpu += cpu_seconds(pids) - before
    client.requests += result["requests"]
    return result


# --- one keep-alive connection, timed ----------------------------------------------------------


class RawClient:
    """HTTP/1.1 over one keep-alive socket, timing the first body byte and the whole answer."""

    def __init__(self, host, port, timeout=30.0):
        self.address = (host, port)
        self.timeout = timeout
        self.sock = None

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def post(self, path, body, headers):
        """(status, seconds to the first body byte, seconds to the end, body)."""
        head = [f"POST {path} HTTP/1.1", f"Host: {self.address[0]}:{self.address[1]}", "Content-Type: application/json",
                f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in headers.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body.encode()
        for attempt in range(2):
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                return self._exchange(data)
            except ConnectionError:
                # A keep-alive connection the server had closed: once more on a new one.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, data):
        start = time.perf_counter()
        self.sock.sendall(data)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        first = time.perf_counter() if rest else None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        length = int(fields["content-length"]) if "content-length" in fields else None
        chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        while True:
            if length is not None and len(rest) >= length:
                body = rest[:length]
                break
            if chunked:
                body = dechunk(rest)
                if body is not None:
                    break
            chunk = self.sock.recv(65536)
            if not chunk:
                if length is None and not chunked:
                    body = rest
                    self.close()
                    break
                raise ConnectionError("closed in the middle of the body")
            if first is None:
                first = time.perf_counter()
            rest += chunk
        end = time.perf_counter()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, (first or end) - start, end - start, body


def dechunk(raw):
    """The body of a complete chunked message, or None while more is to come."""
    out, position = [], 0
    while True:
        line_end = raw.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(raw[position:line_end].split(b";")[0] or b"0", 16)
        if size == 0:
            return b"".join(out) if raw.find(b"\r\n", line_end + 2) >= 0 else None
        start = line_end + 2
        if len(raw) < start + size + 2:
            return None
        out.append(raw[start:start + size])
        position = start + size + 2


def answer_error(status, body, mode):
    """Why an answer would reach an OpenAI client as an error, or None."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if mode == "sse":
        if b"data: [DONE]" not in body:
            return "the stream has no [DONE]"
        if b'"error"' in body:
            return "an error event in the stream"
        if b'"content"' not in body:
            return "the stream has no content"
    elif b'"choices"' not in body:
        return f"no choices: {body[:200]!r}"
    return None


def timed_request(raw, client, mode, model=None):
    host, port, path = client.endpoint(mode)
    status, first, total, body = raw.post(path, request_body(model or client.models[mode], mode), client.headers())
    return answer_error(status, body, mode), first * 1000, total * 1000


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --- the measurements --------------------------------------------------------------------------


TTFB_BLOCK = 30


def first_byte_times(clients, samples, alternate=False):
    """Median and p99 ms to the first streamed byte and to the end. In blocks (the default): each
    client's requests come TTFB_BLOCK in a row, the clients in turns, the block's first five not
    counted (they pay for the switch: the other proxy's leftover work and the CPUs' wake-up), so
    drift still reaches every client alike. `alternate`: one request each in turns, as before
    2026-12-07; on 2 cores each Atelier request then met LiteLLM's work after its previous answer
    (Atelier +1.3 ms that way, +0.53 ms with LiteLLM left out, in one session)."""
    raws = {c.name: RawClient(*c.endpoint("sse")[:2]) for c in clients}
    times = {c.name: ([], []) for c in clients}
    block, skip = (1, 0) if alternate else (TTFB_BLOCK, 5)
    counted = block - skip
    try:
        for c in clients:  # warm every connection and the proxies' pools
            for _ in range(10):
                timed_request(raws[c.name], c, "sse")
        rounds = (samples + counted - 1) // counted
        for index in range(rounds):
            order = clients[index % len(clients):] + clients[:index % len(clients)]
            for c in order:
                for position in range(block):
                    error, first, total = timed_request(raws[c.name], c, "sse")
                    if error:
                        raise SystemExit(f"{c.name}: a stream for the first-byte timing failed: {error}")
                    if position >= skip and len(times[c.name][0]) < samples:
                        times[c.name][0].append(first)
                        times[c.name][1].append(total)
    finally:
        for raw in raws.values():
            raw.close()
    return {name: {"p50": statistics.median(first), "p99": percentile(first, 0.99), "total_p50": statistics.median(total)}
            for name, (first, total) in times.items()}


def healthy_latency(client, mode, samples=50):
    raw = RawClient(*client.endpoint(mode)[:2])
    try:
        values = []
        for index in range(samples + 5):
            error, _, total = timed_request(raw, client, mode)
            if error:
                raise SystemExit(f"{client.name}: a healthy {mode} request failed: {error}")
            if index >= 5:
                values.append(total)
        return statistics.median(values)
    finally:
        raw.close()


def failover(client, scenario, mode, samples, requests):
    """The cost of meeting a failing provider first, and the errors clients see over many requests."""
    healthy = healthy_latency(client, mode)
    raw = RawClient(*client.endpoint(mode)[:2])
    costs, errors = [], []
    try:
        for index in range(1, samples + 1):
            error, _, total = timed_request(raw, client, mode, failover_model(scenario, mode, index))
            if error:
                errors.append(error)
            costs.append(total - healthy)
    finally:
        raw.close()
    latencies, lock = [], threading.Lock()
    per_thread = [requests // FAILOVER_CONCURRENCY + (1 if i < requests % FAILOVER_CONCURRENCY else 0) for i in range(FAILOVER_CONCURRENCY)]
    model = failover_model(scenario, mode, 0)

    def worker(count):
        connection = RawClient(*client.endpoint(mode)[:2])
        mine, bad = [], []
        try:
            for _ in range(count):
                try:
                    error, _, total = timed_request(connection, client, mode, model)
                except OSError as failure:
                    error, total = f"{type(failure).__name__}: {failure}", 0.0
                    connection.close()
                mine.append(total)
                if error:
                    bad.append(error)
        finally:
            connection.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=worker, args=(count,)) for count in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"healthy_ms": healthy, "cost_p50_ms": statistics.median(costs), "cost_max_ms": max(costs),
            "errors": len(errors), "total": samples + requests, "first_error": errors[0] if errors else "",
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99)}


def add_atelier_providers(atelier, upstream, failover_count):
    atelier.add_provider("json", upstream.url("json"), ["m"])
    atelier.add_provider("sse", upstream.url("sse"), ["ms"])
    for mode in MODES:
        names = []
        for scenario in SCENARIOS:
            for index in range(failover_count):
                name = failover_model(scenario, mode, index)
                names.append(name)
                # Each failing provider serves one model, so each sample meets a provider that
                # has not failed yet (a failed one cools down and is skipped, which is the point).
                atelier.add_provider(name, upstream.url(scenario), [name], priority=1)
        atelier.add_provider(f"backup-{mode}", upstream.url(mode), names, priority=2)


# --- the run -----------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="the atelier binary (default: ATELIER_BIN, else a fresh release build)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run at 64 connections")
    parser.add_argument("--duration-1", type=int, default=5, help="seconds per wrk run at 1 connection")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every wrk run, interleaved; medians shown")
    parser.add_argument("--ttfb-samples", type=int, default=300)
    parser.add_argument("--failover-samples", type=int, default=5, help="fresh failing providers timed per case")
    parser.add_argument("--failover-requests", type=int, default=1000, help="requests per case counted for errors")
    parser.add_argument("--litellm-workers", type=int, default=0, help="LiteLLM's --num_workers (default: its own, 1)")
    parser.add_argument("--only", choices=["atelier", "litellm"], help="leave the other proxy out")
    args = parser.parse_args()

    for tool in ("wrk",):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            raise SystemExit(f"needs {tool}: apt-get install -y {tool}")
    binary = atelier_binary(args.binary) if args.only != "litellm" else None
    python = None
    if args.only != "atelier":
        python = venv_python("litellm-venv", "litellm[proxy]", ["litellm", "fastapi", "uvicorn"], fastest_python())

    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="atelier-gateway-bench-", dir=os.environ.get("BENCH_DIR"))
    upstream = FakeUpstream()
    atelier = litellm = None
    try:
        clients = [Client("upstream direct", {m: upstream.url(m) for m in MODES}, {"json": "m", "sse": "ms"}, pids=upstream.pids)]
        count = args.failover_samples + 1
        if binary:
            atelier = Atelier(binary)
            add_atelier_providers(atelier, upstream, count)
            key = atelier.new_key()
            clients.append(Client("Atelier", {m: atelier.base + "/v1" for m in MODES}, {"json": "m", "sse": "ms"}, key,
                                  pids=lambda: tree(atelier.proc.pid)))
        if python:
            litellm = LiteLLM(python, upstream, count, args.litellm_workers, work)
            clients.append(Client("LiteLLM", {m: litellm.base + "/v1" for m in MODES}, {"json": "m", "sse": "ms"}, MASTER_KEY,
                                  pids=litellm.pids))
        scripts = {(c.name, m): lua_script(work, c, m) for c in clients for m in MODES}
        for c in clients:
            for mode in MODES:
                probe = RawClient(*c.endpoint(mode)[:2])
                try:
                    error, _, _ = timed_request(probe, c, mode)
                finally:
                    probe.close()
                if error:
                    raise SystemExit(f"{c.name}: a first {mode} request failed: {error}")
                wrk(c.urls[mode] + "/chat/completions", 2, 64, scripts[(c.name, mode)])  # warm-up, not counted

        runs = {}
        for round_index in range(args.rounds):
            order = clients[round_index % len(clients):] + clients[:round_index % len(clients)]
            for mode in MODES:
                for connections, seconds in ((64, args.duration), (1, args.duration_1)):
                    for c in order:
                        result = measured_wrk(c, mode, seconds, connections, scripts[(c.name, mode)])
                        runs.setdefault((c.name, mode, connections), []).append(result)
                        print(f"round {round_index + 1} {c.name:16} {mode:4} c{connections:<3} {result['rps']:>9,.0f} req/s"
                              f"  p50 {result['p50_ms']:.3f} ms  p99 {result['p99_ms']:.3f} ms  errors {result['errors']}", file=sys.stderr)

        ttfb = first_byte_times(clients, args.ttfb_samples)
        ttfb_alternating = first_byte_times(clients, args.ttfb_samples, alternate=True)
        failovers = {}
        for c in clients[1:]:
            for scenario in SCENARIOS:
                for mode in MODES:
                    failovers[(c.name, scenario, mode)] = failover(c, scenario, mode, args.failover_samples, args.failover_requests)
        resources = {c.name: {"cpu": c.cpu, "requests": c.requests, "rss": peak_rss_mib(c.pids())} for c in clients[1:]}
    finally:
        for proxy in (atelier, litellm):
            if proxy:
                proxy.stop()
        upstream.stop()
        shutil.rmtree(work, ignore_errors=True)

    report(args, SimpleNamespace(binary=binary, python=python, litellm=litellm, names=[c.name for c in clients], runs=runs, ttfb=ttfb,
                                 ttfb_alternating=ttfb_alternating,
                                 failovers=failovers, resources=resources, elapsed=time.monotonic() - started))


def python_version(python):
    out = subprocess.run([python, "-c", "import platform, sys; print('Python', platform.python_version(), sys._base_executable)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or python


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def report(args, r):
    """Prints the tables; `r` holds the run's setup (binary, python, litellm) and its results."""
    names, runs, ttfb, failovers = r.names, r.runs, r.ttfb, r.failovers
    direct = names[0]
    print()
    print(f"Gateway bench on 127.0.0.1, {r.elapsed:.0f} s: wrk -c64 -t2 {args.duration} s and -c1 -t1 {args.duration_1} s per run, "
          f"{args.rounds} round(s) interleaved, medians")
    print(f"upstream: nginx with fixed answers (2 workers); Atelier: {r.binary or '-'}")
    if r.litellm:
        workers = f"{args.litellm_workers} worker(s)" if args.litellm_workers else "1 worker (its default)"
        print(f"LiteLLM {dist_version(r.python, 'litellm')} on {python_version(r.python)}: litellm --config, {workers}, master key, "
              f"router_settings {json.dumps(r.litellm.config['router_settings'])}, failover as two deployments of one model_name "
              f"with order 1 and 2; start-up {r.litellm.startup_s:.1f} s")
    for mode in MODES:
        print(f"\n{MODE_TITLES[mode]} POST /v1/chat/completions")
        print(f"{'client':16} {'req/s @64':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'p50 ms @1':>10} {'added p50 @1':>13}")
        base_p50 = median_of(runs[(direct, mode, 1)], "p50_ms")
        for name in names:
            wide, single = runs[(name, mode, 64)], runs[(name, mode, 1)]
            p50_single = median_of(single, "p50_ms")
            added = "" if name == direct else f"{p50_single - base_p50:+.3f}"
            errors = sum(r["errors"] for r in wide + single)
            print(f"{name:16} {median_of(wide, 'rps'):>10,.0f} {median_of(wide, 'p50_ms'):>8.3f} {median_of(wide, 'p99_ms'):>8.3f} "
                  f"{errors:>7} {p50_single:>10.3f} {added:>13}")
    for title, table in ((f"in blocks of {TTFB_BLOCK} per client, taken in turns", ttfb),
                         ("one request per client in turns (each right after the other proxy's)", r.ttfb_alternating)):
        print(f"\ntime to the first streamed byte, one keep-alive connection, {args.ttfb_samples} requests each, {title} (ms)")
        print(f"{'client':16} {'p50':>8} {'p99':>8} {'vs direct':>10} {'whole stream p50':>17}")
        for name in names:
            t = table[name]
            delta = "" if name == direct else f"{t['p50'] - table[direct]['p50']:+.3f}"
            print(f"{name:16} {t['p50']:>8.3f} {t['p99']:>8.3f} {delta:>10} {t['total_p50']:>17.3f}")
    if failovers:
        print(f"\nfailover: the first provider fails, the second answers; cost = a request meeting a fresh failing provider minus a "
              f"healthy one ({args.failover_samples} each); errors over {args.failover_requests} more at {FAILOVER_CONCURRENCY} at once "
              "(+ the timed ones)")
        print(f"{'client':16} {'first provider':19} {'mode':14} {'cost p50 ms':>11} {'cost max ms':>11} {'errors':>10} {'p50 ms':>8} "
              f"{'p99 ms':>8}")
        for (name, scenario, mode), f in failovers.items():
            print(f"{name:16} {SCENARIOS[scenario]:19} {MODE_TITLES[mode]:14} {f['cost_p50_ms']:>11.2f} {f['cost_max_ms']:>11.2f} "
                  f"{str(f['errors']) + '/' + str(f['total']):>10} {f['p50_ms']:>8.2f} {f['p99_ms']:>8.2f}")
            if f["first_error"]:
                print(f"  first error: {f['first_error'][:300]}")
    print("\nresources over the wrk runs (whole process tree)")
    print(f"{'client':16} {'CPU s':>8} {'requests':>10} {'CPU µs/req':>11} {'peak RSS MiB':>13}")
    for name, use in r.resources.items():
        per = use["cpu"] / use["requests"] * 1e6 if use["requests"] else 0
        print(f"{name:16} {use['cpu']:>8.1f} {use['requests']:>10,} {per:>11.0f} {use['rss']:>13.0f}")
    verdicts(args, names, runs, ttfb, failovers)


def verdicts(args, names, runs, ttfb, failovers):
    if "Atelier" not in names:
        return
    direct = names[0]
    print("\ntargets (issue 21 item 12)")

    def line(text, ok):
        print(f"  {'yes' if ok else 'NO '}  {text}")

    for mode in MODES:
        added = median_of(runs[("Atelier", mode, 1)], "p50_ms") - median_of(runs[(direct, mode, 1)], "p50_ms")
        line(f"{MODE_TITLES[mode]}: added p50 at 1 connection {added:.3f} ms (target ≤ {TARGETS['added_p50_ms']} ms)",
             added <= TARGETS["added_p50_ms"])
    if "LiteLLM" in names:
        for mode in MODES:
            ratio = median_of(runs[("Atelier", mode, 64)], "rps") / max(median_of(runs[("LiteLLM", mode, 64)], "rps"), 1e-9)
            line(f"{MODE_TITLES[mode]}: req/s at 64 connections {ratio:.1f}× LiteLLM's (target ≥ {TARGETS['rps_ratio']:.0f}×)",
                 ratio >= TARGETS["rps_ratio"])
    delta = ttfb["Atelier"]["p50"] - ttfb[direct]["p50"]
    line(f"first streamed byte {delta:+.3f} ms from the upstream's (target within {TARGETS['ttfb_ms']} ms)", delta <= TARGETS["ttfb_ms"])
    mine = [f for (name, _, _), f in failovers.items() if name == "Atelier"]
    if mine:
        worst = max(f["cost_max_ms"] for f in mine)
        errors = sum(f["errors"] for f in mine)
        total = sum(f["total"] for f in mine)
        line(f"failover: costs at most {worst:.2f} ms (target ≤ {TARGETS['failover_ms']:.0f} ms), {errors} of {total} requests reached the "
             "client as errors (target 0)", worst <= TARGETS["failover_ms"] and errors == 0)


if __name__ == "__main__":
    main()
