"""scripts/faults/queue-kill: submit N mock generations, kill -9 the server at random moments
K times (restarting it each time), then check that every job reached a final state, none was lost,
and none ran again after it succeeded. Runs on SQLite, or on PostgreSQL with DATABASE_URL set.
Traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(method, url, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return json.load(response)


def wait_ready(base, proc, timeout=60):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=1):
                return
        except Exception:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def all_jobs(base, token):
    jobs, cursor = {}, None
    while True:
        url = base + "/api/v1/generations?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = request("GET", url, token=token)
        for job in page["items"]:
            jobs[job["id"]] = job
        cursor = page.get("next_cursor")
        if not cursor:
            return jobs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--delay-ms", type=int, default=5, help="mock backend time per image")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="atelier-queue-kill-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, ATELIER_DATA_DIR=os.path.join(work, "data"), ATELIER_PORT=str(port),
               ATELIER_ADMIN_PASSWORD="fault-password-1", ATELIER_GENERATIONS_PER_HOUR="0",
               ATELIER_MOCK_DELAY_MS=str(args.delay_ms), ATELIER_JOB_LEASE_SECONDS="2", ATELIER_LOG_LEVEL="error",
               ATELIER_BCRYPT_COST="4")
    database = "postgres" if env.get("DATABASE_URL", "").startswith("postgres") else "sqlite"

    def start():
        proc = subprocess.Popen([os.path.abspath(args.binary), "serve"], env=env, cwd=work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(base, proc)
        return proc

    started = time.monotonic()
    proc = start()
    try:
        token = request("POST", base + "/admin/auth/login", {"username": "admin", "password": "fault-password-1"})["access_token"]
        submitted = []
        for offset in range(0, args.jobs, 100):
            prompts = [f"job {i}" for i in range(offset, min(args.jobs, offset + 100))]
            submitted += request("POST", base + "/api/v1/runpod/generate/batch", {"prompts": prompts}, token=token)["task_ids"]
        succeeded_before = {}
        rerun = []
        for kill in range(args.kills):
            time.sleep(rng.uniform(0.2, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = start()
            jobs = all_jobs(base, token)
            for job_id, job in jobs.items():
                if job_id in succeeded_before and (job["status"] != "success" or job["finished_at"] != succeeded_before[job_id]):
                    rerun.append(job_id)
                if job["status"] == "success":
                    succeeded_before[job_id] = job["finished_at"]
            done = sum(1 for j in jobs.values() if j["status"] in ("success", "failed", "cancelled"))
            print(f"kill {kill + 1}/{args.kills}: {done}/{len(submitted)} final", file=sys.stderr)
        deadline = time.monotonic() + 300
        while True:
            jobs = all_jobs(base, token)
            pending = [j for j in jobs.values() if j["status"] not in ("success", "failed", "cancelled")]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for job_id, finished in succeeded_before.items():
            if jobs[job_id]["status"] != "success" or jobs[job_id]["finished_at"] != finished:
                rerun.append(job_id)
        statuses = {}
        for job in jobs.values():
            statuses[job["status"]] = statuses.get(job["status"], 0) + 1
        lost = [i for i in submitted if i not in jobs or jobs[i]["status"] not in ("success", "failed", "cancelled")]
        attempts = [j["attempt"] for j in jobs.values()]
        elapsed = time.monotonic() - started
        print(f"\nqueue-kill on {database}: {len(submitted)} jobs, {args.kills} kill -9 + restart, {elapsed:.1f} s")
        print(f"  final states: {statuses}")
        print(f"  lost (not final): {len(lost)}")
        print(f"  ran again after success: {len(set(rerun))}")
        print(f"  attempts: max {max(attempts)}, jobs with more than one: {sum(1 for a in attempts if a > 1)}")
        ok = not lost and not rerun and statuses.get("success", 0) == len(submitted)
        print("  result:", "PASS" if ok else "FAIL")
        sys.exit(0 if ok else 1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
