"""scripts/bench/http: Atelier's foundation HTTP figures next to the seeds' stack, in one run.

Measures, for Atelier (release build) and for a FastAPI + uvicorn reference doing the same work
(reference/fastapi_auth.py, 2 workers: one per core, like Atelier's event loops):
  - start-up: process start to the first 200 from /health
  - idle memory (RSS after start-up)
  - wrk, 64 connections: GET /health, and an authenticated GET /admin/auth/me (JWT; and an API
    key for Atelier), requests/s and p99 latency
and prints Atelier's ratio to the reference. Traffic goes only to 127.0.0.1.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


_handed_out = set()


def free_port():
    """A port nothing listens on now, and not one this process handed out before: the kernel can
    give a just-closed port again, and two servers were once configured on the same one."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_ready(url, proc, timeout=60.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.005)
    raise SystemExit(f"{url} not ready after {timeout}s")


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wrk(url, seconds, headers=(), script=None):
    cmd = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def percentile(label):
        found = re.search(label + r"\s+([\d.]+)(us|ms|s)", out)
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50_ms": percentile("50%"), "p99_ms": percentile("99%"), "requests": requests,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else ""}


def post_json(url, body, token=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def run_atelier(binary, seconds):
    work = tempfile.mkdtemp(prefix="atelier-bench-")
    port = free_port()
    env = dict(os.environ, ATELIER_DATA_DIR=os.path.join(work, "data"), ATELIER_PORT=str(port),
               ATELIER_ADMIN_PASSWORD="bench-password-1", ATELIER_LOG_LEVEL="warning")
    env.pop("DATABASE_URL", None)
    base = f"http://127.0.0.1:{port}"
    # First start creates the database; the measured start is the second, as after a restart.
    for attempt in range(2):
        t0 = time.monotonic()
        proc = subprocess.Popen([binary, "serve"], env=env, cwd=work, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_ready(base + "/health", proc)
        startup = time.monotonic() - t0
        if attempt == 0:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    try:
        time.sleep(1)
        idle = rss_mib([proc.pid])
        jwt_token = post_json(base + "/admin/auth/login", {"username": "admin", "password": "bench-password-1"})["access_token"]
        key = post_json(base + "/api/v1/keys", {"name": "bench"}, token=jwt_token)["key"]
        result = {
            "startup_s": startup, "idle_mib": idle,
            "health": wrk(base + "/health", seconds),
            "me_jwt": wrk(base + "/admin/auth/me", seconds, [f"Authorization: Bearer {jwt_token}"]),
            "me_key": wrk(base + "/admin/auth/me", seconds, [f"Authorization: Bearer {key}"]),
        }
        result["loaded_mib"] = rss_mib([proc.pid])
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def run_reference(seconds):
    work = tempfile.mkdtemp(prefix="atelier-bench-ref-")
    port = free_port()
    env = dict(os.environ, ATELIER_REF_DB=os.path.join(work, "ref.sqlite"), ATELIER_REF_SECRET="s" * 40,
               PYTHONPATH=os.path.join(HERE, "reference"))
    token = subprocess.run([sys.executable, os.path.join(HERE, "reference", "fastapi_auth.py")], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "fastapi_auth:app", "--port", str(port), "--workers", "2",
                             "--log-level", "warning", "--no-access-log"], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(base + "/health", proc)
        startup = time.monotonic() - t0
        time.sleep(1)
        pids = [proc.pid] + children(proc.pid)
        idle = rss_mib(pids)
        result = {
            "startup_s": startup, "idle_mib": idle,
            "health": wrk(base + "/health", seconds),
            "me_jwt": wrk(base + "/admin/auth/me", seconds, [f"Authorization: Bearer {token}"]),
        }
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--no-reference", action="store_true", help="skip the FastAPI reference")
    args = parser.parse_args()

    atelier = run_atelier(os.path.abspath(args.binary), args.duration)
    reference = None
    if not args.no_reference:
        try:
            reference = run_reference(args.duration)
        except (subprocess.CalledProcessError, SystemExit) as error:
            print(f"reference not run ({error}); install it with: pip install fastapi uvicorn pyjwt", file=sys.stderr)

    def ratio(a, b, higher_is_better=True):
        if b is None or a == 0 or b == 0:
            return "—"
        return f"{(a / b) if higher_is_better else (b / a):.1f}×"

    rows = [
        ("GET /health req/s", atelier["health"]["rps"], reference and reference["health"]["rps"], True, "{:,.0f}"),
        ("GET /health p99 ms", atelier["health"]["p99_ms"], reference and reference["health"]["p99_ms"], False, "{:.2f}"),
        ("GET /admin/auth/me (JWT) req/s", atelier["me_jwt"]["rps"], reference and reference["me_jwt"]["rps"], True, "{:,.0f}"),
        ("GET /admin/auth/me (JWT) p99 ms", atelier["me_jwt"]["p99_ms"], reference and reference["me_jwt"]["p99_ms"], False, "{:.2f}"),
        ("GET /admin/auth/me (API key) req/s", atelier["me_key"]["rps"], None, True, "{:,.0f}"),
        ("GET /admin/auth/me (API key) p99 ms", atelier["me_key"]["p99_ms"], None, False, "{:.2f}"),
        ("start-up to first 200, s", atelier["startup_s"], reference and reference["startup_s"], False, "{:.2f}"),
        ("idle RSS, MiB", atelier["idle_mib"], reference and reference["idle_mib"], False, "{:.0f}"),
    ]
    print(f"\nwrk -t2 -c64 -d{args.duration}s on 127.0.0.1; reference: FastAPI + uvicorn (2 workers) + PyJWT + sqlite3")
    print(f"{'figure':38} {'Atelier':>12} {'FastAPI ref':>12} {'Atelier vs ref':>15}")
    for name, a, b, higher, fmt in rows:
        print(f"{name:38} {fmt.format(a):>12} {(fmt.format(b) if b is not None else '—'):>12} {ratio(a, b, higher):>15}")
    print(f"{'RSS after the runs, MiB':38} {atelier['loaded_mib']:>12.0f}")
    for name, run in (("atelier", atelier), ("reference", reference)):
        if not run:
            continue
        for key in ("health", "me_jwt", "me_key"):
            if key in run and (run[key]["non2xx"] or run[key]["socket_errors"]):
                print(f"note: {name} {key}: non-2xx {run[key]['non2xx']} {run[key]['socket_errors']}")


if __name__ == "__main__":
    main()
