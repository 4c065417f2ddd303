"""scripts/bench/queue: the generation queue's figures next to seed 001's FastAPI + Celery + Redis.

For Atelier (release build) on SQLite and on a throwaway PostgreSQL, and for the reference:
  - enqueue: wrk -t2 -c64 on POST /api/v1/runpod/generate (workers paused, so only enqueueing is
    measured; the Celery reference has no worker running), requests/s, p50 and p99;
  - end to end: --jobs mock jobs (zero delay, one worker with 256 slots) submitted through
    /api/v1/runpod/generate/batch (100 per request, 4 clients) with the workers running, until
    every one has succeeded: jobs/s;
  - the scheduler trace of `atelier bench scheduler`.
Every system runs --rounds times (default 5), interleaved, and the medians are compared: on a
shared 2-core machine single runs vary by ±30 %, and with three rounds one slow or fast round
decided the median more than once.
Traffic goes only to 127.0.0.1. Every process shares this machine's cores.
"""
import argparse
import datetime
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from http_bench import free_port, post_json, wait_ready, wrk  # noqa: E402

LEFTOVERS = []
# How often both systems' end-to-end runs look for the end; the end itself is read from the jobs'
# own finish times, so this only bounds the observer's load.
POLL_SECONDS = 0.2
BODY = {"prompt": "a lighthouse at dusk, oil painting", "width": 832, "height": 1216, "steps": 30}


def request(method, url, body=None, token=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def wrk_script(work):
    path = os.path.join(work, "enqueue.lua")
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = '{json.dumps(BODY)}'\n")
    return path


class Postgres:
    """A throwaway cluster from Debian's binaries, as scripts/test makes one."""

    def __init__(self):
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        if not dirs:
            raise SystemExit("no PostgreSQL server binaries: apt-get install -y postgresql")
        self.bin = dirs[0]
        self.work = tempfile.mkdtemp(prefix="atelier-bench-pg-", dir=os.environ.get("BENCH_DIR"))
        self.port = free_port()
        self.run_as = []
        if os.geteuid() == 0:
            shutil.chown(self.work, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.work, "data")
        subprocess.run(self.run_as + [f"{self.bin}/initdb", "-D", data, "-U", "atelier", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run(self.run_as + [f"{self.bin}/pg_ctl", "-D", data, "-l", os.path.join(self.work, "log"), "-w", "-t", "60",
                                      "-o", f"-p {self.port} -k {self.work} -c listen_addresses=127.0.0.1 -c max_connections=200",
                                      "start"], check=True, capture_output=True)
        self.databases = 0

    def new_database(self):
        self.databases += 1
        name = f"bench{self.databases}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "atelier", "-d", "postgres", "-qc",
                        f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return f"postgres://atelier@127.0.0.1:{self.port}/{name}?sslmode=disable"

    def query(self, url, sql):
        return subprocess.run(["psql", url.split("?")[0], "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()

    def stop(self):
        subprocess.run(self.run_as + [f"{self.bin}/pg_ctl", "-D", os.path.join(self.work, "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


class Atelier:
    def __init__(self, binary, database_url=None):
        self.work = tempfile.mkdtemp(prefix="atelier-bench-q-", dir=os.environ.get("BENCH_DIR"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        env = dict(os.environ, ATELIER_DATA_DIR=os.path.join(self.work, "data"), ATELIER_PORT=str(self.port),
                   ATELIER_ADMIN_PASSWORD="bench-password-1", ATELIER_LOG_LEVEL="warning", ATELIER_GENERATIONS_PER_HOUR="0",
                   ATELIER_DATABASE_POOL_SIZE="8")
        env.pop("DATABASE_URL", None)
        if database_url:
            env["DATABASE_URL"] = database_url
        self.proc = subprocess.Popen([binary, "serve"], env=env, cwd=self.work, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.work, "stderr.log"), "w"))
        wait_ready(self.base + "/health", self.proc)
        self.token = post_json(self.base + "/admin/auth/login", {"username": "admin", "password": "bench-password-1"})["access_token"]
        for _ in range(100):
            workers = request("GET", self.base + "/api/v1/workers", token=self.token)["items"]
            if workers:
                break
            time.sleep(0.05)
        self.mock = workers[0]["id"]

    def worker(self, **fields):
        request("PATCH", f"{self.base}/api/v1/workers/{self.mock}", fields, token=self.token)

    def query(self, sql):
        if self.database_url:
            out = subprocess.run(["psql", self.database_url.split("?")[0], "-tAc", sql], check=True, capture_output=True,
                                 text=True).stdout
            return [tuple(line.split("|")) for line in out.split("\n") if line]
        with sqlite3.connect(os.path.join(self.work, "data", "atelier.sqlite"), timeout=30) as db:
            return [tuple(str(v) for v in row) for row in db.execute(sql).fetchall()]

    def states(self):
        return {state: int(count) for state, count in self.query("SELECT state, COUNT(*) FROM jobs GROUP BY state")}

    def last_finish(self):
        """When the last job finished, in seconds since the epoch (jobs.finished_at is in ms)."""
        return int(self.query("SELECT MAX(finished_at) FROM jobs")[0][0]) / 1000

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        # The folder is removed at the end of the whole run: on an ext4 volume without a journal,
        # as here, creating files right after deleting thousands scans the freed inodes, which
        # would make the next run pay for this one's clean-up.
        LEFTOVERS.append(self.work)


def submit_batches(base, jobs, clients=4, batch=100, token=None):
    chunks = [min(batch, jobs - i) for i in range(0, jobs, batch)]
    lock = threading.Lock()
    errors = []

    def client():
        while True:
            with lock:
                if not chunks:
                    return
                size = chunks.pop()
            body = dict(BODY, prompts=[f"bench {size} {time.monotonic_ns()} {i}" for i in range(size)])
            body.pop("prompt")
            try:
                request("POST", base + "/api/v1/runpod/generate/batch", body, token=token)
            except Exception as error:  # noqa: BLE001 - counted and reported
                errors.append(str(error))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads, errors


def atelier_run(binary, seconds, jobs, postgres=None):
    out = {}
    url = postgres.new_database() if postgres else None
    server = Atelier(binary, url)
    try:
        server.worker(enabled=False)
        time.sleep(0.5)
        out["enqueue"] = wrk(server.base + "/api/v1/runpod/generate", seconds, script=wrk_script(server.work))
        out["stored"] = sum(server.states().values())
    finally:
        server.stop()
    url = postgres.new_database() if postgres else None
    server = Atelier(binary, url)
    try:
        # The mock has no delay, so a job's time in flight is its image being made durable and
        # its row committed; 256 slots (the most a worker may have) keep the queue, not that
        # latency, the limit.
        server.worker(concurrency=256)
        time.sleep(0.5)
        start = time.time()
        threads, errors = submit_batches(server.base, jobs)
        for t in threads:
            t.join()
        submitted = time.time() - start
        deadline = start + 600
        # Waits on Atelier's own queue stats (one HTTP request, as often as the reference's wait
        # below) rather than spawning psql, which would take CPU from the run being measured. The
        # run ends when the last job finished (its finished_at), not when the poll noticed it.
        while time.time() < deadline:
            stats = request("GET", server.base + "/api/v1/runpod/queue/stats", token=server.token)
            if stats["active_tasks"] + stats["reserved_tasks"] + stats["scheduled_tasks"] == 0:
                break
            time.sleep(POLL_SECONDS)
        states = server.states()
        elapsed = server.last_finish() - start
        out["e2e"] = {"jobs": jobs, "seconds": elapsed, "submit_seconds": submitted, "jobs_per_s": states.get("success", 0) / elapsed,
                      "states": states, "errors": errors[:3]}
    finally:
        server.stop()
    return out


def reference_run(seconds, jobs):
    import redis  # noqa: PLC0415 - only needed for the reference
    work = tempfile.mkdtemp(prefix="atelier-bench-celery-", dir=os.environ.get("BENCH_DIR"))
    redis_port, port = free_port(), free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], cwd=work, stdout=subprocess.DEVNULL)
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", PYTHONPATH=os.path.join(HERE, "reference"))
    base = f"http://127.0.0.1:{port}"
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "celery_queue:app", "--port", str(port), "--workers", "2",
                            "--log-level", "warning", "--no-access-log"], env=env, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    out = {}
    try:
        wait_ready(base + "/health", api)
        r = redis.Redis(port=redis_port)
        out["enqueue"] = wrk(base + "/api/v1/runpod/generate", seconds, script=wrk_script(work))
        out["stored"] = r.llen("celery")
        r.flushall()
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_queue:celery_app", "worker", "--concurrency", "2",
                                   "--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                                  env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        start = time.time()
        threads, errors = submit_batches(base, jobs)
        for t in threads:
            t.join()
        submitted = time.time() - start
        done = 0
        while time.time() - start < 600:
            done = sum(1 for _ in r.scan_iter("celery-task-meta-*", count=5000))
            if done >= jobs:
                break
            time.sleep(POLL_SECONDS)
        # As for Atelier: the run ends with the last result stored (Celery's date_done, UTC).
        pipe = r.pipeline()
        for key in r.scan_iter("celery-task-meta-*", count=5000):
            pipe.get(key)
        finished = [json.loads(raw)["date_done"] for raw in pipe.execute() if raw]
        last = max(datetime.datetime.fromisoformat(d).replace(tzinfo=datetime.timezone.utc).timestamp() for d in finished)
        elapsed = last - start
        out["e2e"] = {"jobs": jobs, "seconds": elapsed, "submit_seconds": submitted, "jobs_per_s": done / elapsed,
                      "errors": errors[:3]}
    finally:
        for proc in (worker, api, redis_proc):
            if proc:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    return out


def median_run(runs):
    """The run with the median enqueue rate, with the median end-to-end rate put in its place
    (the two medians may come from different rounds)."""
    by_enqueue = sorted(runs, key=lambda run: run["enqueue"]["rps"])
    by_e2e = sorted(runs, key=lambda run: run["e2e"]["jobs_per_s"])
    middle = dict(by_enqueue[len(runs) // 2])
    middle["e2e"] = by_e2e[len(runs) // 2]["e2e"]
    return middle


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--jobs", type=int, default=10000, help="jobs in the end-to-end runs")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of every system, interleaved so drift on a shared machine hits them alike; medians are shown")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--cool-down", type=int, default=300,
                        help="seconds to leave between the previous run's clean-up and this run's first measurement")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    cool_down(args.cool_down)

    runs = {}
    postgres = None if args.no_postgres else Postgres()
    try:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", file=sys.stderr)
            runs.setdefault("atelier (SQLite)", []).append(atelier_run(binary, args.duration, args.jobs))
            if postgres:
                runs.setdefault("atelier (PostgreSQL)", []).append(atelier_run(binary, args.duration, args.jobs, postgres))
            if not args.no_reference:
                try:
                    runs.setdefault("FastAPI + Celery + Redis", []).append(reference_run(args.duration, args.jobs))
                except Exception as error:  # noqa: BLE001 - the reference is optional
                    print(f"reference not run: {error}", file=sys.stderr)
    finally:
        if postgres:
            postgres.stop()
    results = {name: median_run(group) for name, group in runs.items() if group}
    reference = results.get("FastAPI + Celery + Redis")

    print(f"\nenqueue: wrk -t2 -c64 -d{args.duration}s POST /api/v1/runpod/generate; end to end: {args.jobs} jobs in batches of 100 from 4 clients, a mock worker with 256 slots")
    print(f"each round, in order: {', '.join(runs)}")
    print(f"{'system':26} {'enqueue req/s, each round':>28} {'e2e jobs/s, each round':>26}")
    for name, group in runs.items():
        enqueues = " ".join(f"{run['enqueue']['rps']:,.0f}" for run in group)
        e2es = " ".join(f"{run['e2e']['jobs_per_s']:,.0f}" for run in group)
        print(f"{name:26} {enqueues:>28} {e2es:>26}")
    print(f"\nmedians of {args.rounds} rounds")
    print(f"{'system':26} {'enqueue req/s':>14} {'p50 ms':>8} {'p99 ms':>8} {'stored':>8} {'e2e jobs/s':>11} {'e2e s':>7}")
    for name, run in results.items():
        e = run["enqueue"]
        print(f"{name:26} {e['rps']:>14,.0f} {e['p50_ms']:>8.2f} {e['p99_ms']:>8.2f} {run['stored']:>8} "
              f"{run['e2e']['jobs_per_s']:>11,.0f} {run['e2e']['seconds']:>7.1f}")
        for one in runs[name]:
            if one["enqueue"]["non2xx"] or one["enqueue"]["socket_errors"] or one["e2e"]["errors"]:
                print(f"  note: non-2xx {one['enqueue']['non2xx']} {one['enqueue']['socket_errors']} {one['e2e']['errors']}")
    if reference:
        for name, run in results.items():
            if name.startswith("atelier"):
                print(f"{name}: enqueue {run['enqueue']['rps'] / reference['enqueue']['rps']:.1f}× the reference (target ≥ 10×), "
                      f"end to end {run['e2e']['jobs_per_s'] / max(1, reference['e2e']['jobs_per_s']):.1f}×")
                # The same ratio within each round (the two ran minutes apart, so drift of the
                # machine's speed cancels more than between medians).
                if len(runs[name]) != len(runs["FastAPI + Celery + Redis"]):
                    continue
                pairs = zip(runs[name], runs["FastAPI + Celery + Redis"])
                print("  enqueue ratio in each round: " + " ".join(f"{ours['enqueue']['rps'] / theirs['enqueue']['rps']:.1f}×"
                                                                 for ours, theirs in pairs))
    print("\nscheduler trace (simulated time, the real claim SQL):")
    subprocess.run([binary, "bench", "scheduler"], check=True)
    for work in LEFTOVERS:
        shutil.rmtree(work, ignore_errors=True)
    with open(cleanup_stamp(), "w") as f:
        f.write(str(time.time()))


def cleanup_stamp():
    return os.path.join(os.environ.get("BENCH_DIR") or tempfile.gettempdir(), ".atelier-bench-queue-cleanup")


def cool_down(seconds):
    """Waits until `seconds` have passed since the last run of this script deleted its image folders.

    On an ext4 volume without a journal (as on this machine), the kernel does not reuse an inode
    freed less than 5 s ago, or 5 minutes ago while its inode-table block is dirty, which it is
    again as soon as new files are made: every new file then first walks past the freed ones
    (seen: 13 % of the machine in `recently_deleted`, end to end down by a quarter). Only
    Atelier writes files here, so without the wait a run straight after another would measure
    the previous run's clean-up against Atelier alone."""
    try:
        with open(cleanup_stamp()) as f:
            since = time.time() - float(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    if 0 <= since < seconds:
        print(f"waiting {seconds - since:.0f} s: the previous run deleted its files {since:.0f} s ago (see cool_down)", file=sys.stderr)
        time.sleep(seconds - since)


if __name__ == "__main__":
    main()
