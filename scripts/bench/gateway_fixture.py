"""What scripts/bench/gateway and scripts/openai-sdk-check both need to try the OpenAI-compatible
gateway on 127.0.0.1: a fixed-answer upstream (nginx), a throwaway Atelier with providers and an API
key, the Atelier binary to run, and a cached venv for PyPI tools (LiteLLM, the openai SDK).

The upstream answers from nginx's memory (`return 200 '...'`) so it is never the bottleneck: one
port answers chat.completion JSON, one a text/event-stream of chat.completion.chunk events (with a
usage chunk, then `data: [DONE]`), one a 500 for failover runs. nginx ignores the request body, so
the port, not the request's `stream` field, decides the shape.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from http_bench import children, free_port, wait_ready  # noqa: E402

ADMIN_PASSWORD = "bench-password-1"
CREATED = 1700000000
ANSWER = "Hello! This is the fixed answer of the bench upstream."
USAGE = {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23}


def completion_body(model="m"):
    return json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE, "system_fingerprint": "fp_bench",
    }, separators=(",", ":"))


def stream_body(model="ms"):
    """A role chunk, the answer word by word, a finish chunk, the usage chunk, [DONE]."""
    def chunk(delta, finish=None, usage=None, choices=True):
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "system_fingerprint": "fp_bench",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
        if usage:
            body["usage"] = usage
        return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n"
    words = ANSWER.split(" ")
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": (" " if i else "") + word}) for i, word in enumerate(words)]
    events += [chunk({}, finish="stop"), chunk(None, usage=USAGE, choices=False), "data: [DONE]\n\n"]
    return "".join(events)


def models_body(models):
    return json.dumps({"object": "list", "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "bench"} for m in models]},
                      separators=(",", ":"))


def nginx_string(text):
    # nginx reads \\, \' and \n in a quoted string; `$` would start a variable.
    if "$" in text:
        raise ValueError("a fixed nginx body cannot contain '$'")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


class FakeUpstream:
    """nginx on four ports: `json` (chat.completion), `sse` (a chunk stream), `auto` (the stream
    when the request accepts text/event-stream, as Atelier's streaming requests do, else the JSON)
    and `failing` (HTTP 500); `dead` is a port nothing listens on (connection refused).
    `url(kind)` is the /v1 base."""

    def __init__(self, workers=2):
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if not nginx:
            raise SystemExit("needs nginx for the fake upstream: apt-get install -y nginx-light")
        self.nginx = nginx
        self.work = tempfile.mkdtemp(prefix="atelier-gateway-upstream-", dir=os.environ.get("BENCH_DIR"))
        self.ports = {kind: free_port() for kind in ("json", "sse", "auto", "failing", "dead")}
        models = models_body(["m", "ms"])
        failure = json.dumps({"error": {"message": "the bench upstream fails on purpose", "type": "server_error", "code": None}})
        servers = [
            (self.ports["json"], "application/json", 200, completion_body()),
            (self.ports["sse"], "text/event-stream", 200, stream_body()),
            (self.ports["failing"], "application/json", 500, failure),
        ]
        blocks = "".join(textwrap.dedent(f"""
            server {{
              listen 127.0.0.1:{port} backlog=4096;
              location = /v1/models {{ default_type application/json; return 200 {nginx_string(models)}; }}
              location / {{ default_type {content_type}; return {status} {nginx_string(body)}; }}
            }}
            """) for port, content_type, status, body in servers)
        # `default_type` is not allowed inside `if`, so the stream is an internal location.
        blocks += textwrap.dedent(f"""
            server {{
              listen 127.0.0.1:{self.ports["auto"]} backlog=4096;
              location = /v1/models {{ default_type application/json; return 200 {nginx_string(models)}; }}
              location = /stream {{ internal; default_type text/event-stream; return 200 {nginx_string(stream_body("m"))}; }}
              location / {{
                if ($http_accept ~* "text/event-stream") {{ rewrite ^ /stream last; }}
                default_type application/json; return 200 {nginx_string(completion_body())};
              }}
            }}
            """)
        self.conf = os.path.join(self.work, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(textwrap.dedent(f"""
                worker_processes {workers};
                pid {self.work}/nginx.pid;
                error_log {self.work}/error.log;
                events {{ worker_connections 4096; }}
                http {{
                  access_log off;
                  keepalive_requests 10000000;
                  keepalive_timeout 300s;
                  client_body_temp_path {self.work}/body; proxy_temp_path {self.work}/proxy;
                  fastcgi_temp_path {self.work}/fastcgi; uwsgi_temp_path {self.work}/uwsgi; scgi_temp_path {self.work}/scgi;
                """) + textwrap.indent(blocks, "  ") + "}\n")
        subprocess.run([nginx, "-c", self.conf, "-p", self.work], check=True)
        for kind in ("json", "sse", "auto"):
            deadline = time.monotonic() + 10
            while True:
                try:
                    with urllib.request.urlopen(self.url(kind) + "/models", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"nginx did not answer on port {self.ports[kind]}; see {self.work}/error.log") from None
                    time.sleep(0.02)

    def url(self, kind):
        return f"http://127.0.0.1:{self.ports[kind]}/v1"

    def pids(self):
        try:
            with open(os.path.join(self.work, "nginx.pid")) as f:
                master = int(f.read().strip())
        except (OSError, ValueError):
            return []
        return [master] + children(master)

    def stop(self):
        subprocess.run([self.nginx, "-c", self.conf, "-p", self.work, "-s", "stop"], check=False, capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


def call(method, url, body=None, token=None, timeout=30):
    """The JSON answer of an admin call; an error status stops the run with the server's words."""
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {url}: HTTP {error.code} {error.read()[:500].decode(errors='replace')}") from None


class Atelier:
    """A throwaway server on SQLite in a temporary folder, private upstream hosts allowed."""

    def __init__(self, binary, log_level="warning"):
        self.work = tempfile.mkdtemp(prefix="atelier-gateway-", dir=os.environ.get("BENCH_DIR"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, ATELIER_DATA_DIR=os.path.join(self.work, "data"), ATELIER_PORT=str(self.port),
                   ATELIER_ADMIN_PASSWORD=ADMIN_PASSWORD, ATELIER_LOG_LEVEL=log_level, ATELIER_ALLOW_PRIVATE_HOSTS="true",
                   ATELIER_BOTS="false")
        env.pop("DATABASE_URL", None)
        self.stderr_path = os.path.join(self.work, "stderr.log")
        self.proc = subprocess.Popen([os.path.abspath(binary), "serve"], env=env, cwd=self.work, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "w"))
        try:
            wait_ready(self.base + "/health", self.proc)
        except SystemExit as error:
            tail = self.stderr_tail()
            self.stop()
            raise SystemExit(f"Atelier did not start ({error}); its last log lines:\n{tail}") from None
        self.token = call("POST", self.base + "/admin/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]

    def add_provider(self, name, base_url, models, priority=1, timeout_seconds=30):
        return call("POST", self.base + "/admin/llm/providers", {
            "name": name, "kind": "openai", "base_url": base_url, "api_key": "sk-bench-upstream-key",
            "models": models, "priority": priority, "timeout_seconds": timeout_seconds,
        }, token=self.token)

    def new_key(self, name="bench"):
        return call("POST", self.base + "/api/v1/keys", {"name": name}, token=self.token)["key"]

    def stderr_tail(self, lines=20):
        """The log's last lines; for a crash, its report's first lines too (the crashed thread's frames)."""
        try:
            with open(self.stderr_path, errors="replace") as f:
                text = f.readlines()
        except OSError:
            return ""
        start = next((i for i, line in enumerate(text) if "Crash" in line or "crashed" in line), None)
        if start is not None and start < len(text) - lines:
            return "".join(text[start:start + 60]) + "...\n" + "".join(text[-lines:])
        return "".join(text[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.work, ignore_errors=True)


def newest_source_mtime():
    newest = 0.0
    for name in ("Package.swift", "Package.resolved"):
        path = os.path.join(REPO, name)
        if os.path.exists(path):
            newest = max(newest, os.path.getmtime(path))
    for root, _, files in os.walk(os.path.join(REPO, "Sources")):
        for name in files:
            newest = max(newest, os.path.getmtime(os.path.join(root, name)))
    return newest


def fresh(path):
    return os.path.isfile(path) and os.access(path, os.X_OK) and os.path.getmtime(path) >= newest_source_mtime()


def atelier_binary(explicit=None, allow_debug=False):
    """The binary to run: --binary or ATELIER_BIN as given; else .build/release/atelier when it is
    newer than every source file (and, with allow_debug, a fresh debug build); else a release build
    made now, as the other benches do."""
    chosen = explicit or os.environ.get("ATELIER_BIN")
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise SystemExit(f"{chosen} is not an executable Atelier binary (from --binary or ATELIER_BIN)")
        return os.path.abspath(chosen)
    release = os.path.join(REPO, ".build", "release", "atelier")
    debug = os.path.join(REPO, ".build", "debug", "atelier")
    if fresh(release):
        return release
    if allow_debug and fresh(debug):
        return debug
    print("building atelier in release (scripts/build-release); set ATELIER_BIN to skip", file=sys.stderr)
    subprocess.run([os.path.join(REPO, "scripts", "build-release")], cwd=REPO, check=True, stdout=sys.stderr)
    return release


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "atelier-bench")


def fastest_python():
    """Debian's python3 (built with PGO and LTO, about twice as fast here as a plain pyenv build)
    when there is one, else this interpreter: Python tools are measured at their best."""
    system = "/usr/bin/python3"
    return system if os.access(system, os.X_OK) else sys.executable


def venv_python(name, requirement, dists, base=None):
    """The python of a venv under ~/.cache/atelier-bench/NAME, made from `base` with `requirement`
    installed by pip the first time; later runs only check that the distributions `dists` are
    there (importing LiteLLM to check would take seconds) and that it was made from `base`."""
    base = base or sys.executable
    venv = os.path.join(cache_dir(), name)
    python = os.path.join(venv, "bin", "python")
    check = [python, "-c", "import importlib.metadata as m, sys; [m.version(d) for d in sys.argv[1:]]", *dists]
    if os.path.exists(python) and venv_home(venv) == os.path.dirname(base) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"installing {requirement} into {venv} with {base} (once)", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(cache_dir(), exist_ok=True)
    subprocess.run([base, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True, stdout=sys.stderr)
    subprocess.run([python, "-m", "pip", "install", "-q", requirement], check=True, stdout=sys.stderr)
    subprocess.run(check, check=True)
    return python


def venv_home(venv):
    try:
        with open(os.path.join(venv, "pyvenv.cfg")) as f:
            return next((line.split("=", 1)[1].strip() for line in f if line.split("=")[0].strip() == "home"), None)
    except OSError:
        return None


def dist_version(python, dist):
    out = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"], capture_output=True, text=True)
    return out.stdout.strip() or "?"
