"""scripts/bench/pull: `atelier pull` against `aria2c -x16 -s16 -k1M` on one model file, through a
CDN set up as the real ones are, on 127.0.0.1.

The CDN: nginx hands every request, each range request included, to a small application
(reference/signed_cdn.py) that checks the URL's signature and expiry; a valid one is answered with
`X-Accel-Redirect`, and nginx sends the bytes from the file with sendfile. One server's connections
are capped each at --rate, as a CDN's per-connection limit is, the other's are not. The cap is Linux
traffic control on loopback (as root): one HTB class per client port, the clients' ports confined to
a range of 512 meanwhile, so a connection stays capped across the range requests it carries. nginx's
own limit_rate cannot stand in for it: it counts per request and lets each request send a second's
worth at once, so a client making short range requests on one connection escaped it (seen: 16
connections at 139 % of 16 × the cap). Without root or tc the bench stops and says so. In front, a fake Hugging Face
Hub (reference/fake_hf_endpoint.py) answers /resolve/ with a 302 to a freshly signed CDN URL, and
every client starts from that resolve URL. aria2c runs as its users run it: `-x16 -s16 -k1M`, its
default file allocation. Before every run the previous output is written back and dropped from the
page cache and the source file is read into it; the runs are interleaved (client after client,
round after round, each round starting with the next client).

Printed per client: median wall time and MB/s, user and system CPU seconds, CPU seconds per GiB,
peak RSS, range requests the CDN checked, and whether the client verified SHA-256; then Atelier's
ratios to aria2c and the issue's targets.
"""
import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from http_bench import free_port  # noqa: E402
TIME = "/usr/bin/time"
NAME = "model.safetensors"


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port}")


def make_file(path, size):
    header = b'{"__metadata__":{"format":"pt"}}'
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        first = len(header).to_bytes(8, "little") + header
        f.write(first)
        digest.update(first)
        remaining = size - len(first)
        block = os.urandom(16 << 20)
        while remaining > 0:
            chunk = block[: min(len(block), remaining)]
            f.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def sha_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def warm(path):
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


class ConnectionCap:
    """`rate` bytes/s for each TCP connection whose packets come from `server_port`: an HTB class
    per client port in [first, first + count), a u32 filter on (server port, client port) for each,
    everything else through an unlimited default class. Installed for the capped runs only; the
    ephemeral port range is restored at the end."""

    def __init__(self, server_port, rate, work, first=41000, count=512):
        self.server_port, self.rate, self.first, self.count = server_port, int(rate), first, count
        self.batch = os.path.join(work, "tc.batch")
        self.range_file = "/proc/sys/net/ipv4/ip_local_port_range"
        with open(self.range_file) as f:
            self.saved_range = f.read().split()
        if not shutil.which("tc") or os.geteuid() != 0:
            raise SystemExit("the capped CDN needs tc (iproute2) and root: it caps each connection on loopback")
        bits = self.rate * 8
        lines = ["qdisc add dev lo root handle 1: htb default 1",
                 "class add dev lo parent 1: classid 1:1 htb rate 100gbit quantum 200000"]
        for index in range(count):
            port = first + index
            lines.append(f"class add dev lo parent 1: classid 1:{index + 10:x} htb rate {bits}bit ceil {bits}bit "
                         f"burst 256k cburst 256k quantum 70000")
            lines.append(f"filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport {server_port} 0xffff "
                         f"match ip dport {port} 0xffff flowid 1:{index + 10:x}")
        with open(self.batch, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.range_file, "w") as f:
            f.write(f"{first} {first + count - 1}\n")
        self.remove()

    def install(self):
        subprocess.run(["tc", "-batch", self.batch], check=True, stdout=subprocess.DEVNULL)

    def remove(self):
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self):
        self.remove()
        with open(self.range_file, "w") as f:
            f.write(" ".join(self.saved_range) + "\n")


def start_nginx(work, root, signer_port, capped_port, open_port):
    conf = os.path.join(work, "nginx.conf")
    signed = """
                location / {{
                  proxy_pass http://signer;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_pass_request_body off;
                  proxy_set_header Content-Length "";
                }}
                location /protected/ {{ internal; alias {root}/; {limit} }}
    """
    with open(conf, "w") as f:
        f.write(textwrap.dedent(f"""
            worker_processes 2;
            pid {work}/nginx.pid;
            error_log {work}/nginx-error.log;
            events {{ worker_connections 2048; }}
            http {{
              access_log off;
              sendfile on;
              tcp_nopush on;
              keepalive_requests 100000;
              client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fastcgi;
              uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
              types {{ application/octet-stream safetensors; }}
              upstream signer {{ server 127.0.0.1:{signer_port}; keepalive 64; }}
              server {{ listen 127.0.0.1:{capped_port}; {signed.format(root=root, limit="")} }}
              server {{ listen 127.0.0.1:{open_port}; {signed.format(root=root, limit="")} }}
            }}
            """))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-c", conf, "-p", work], check=True)
    return lambda: subprocess.run([nginx, "-c", conf, "-p", work, "-s", "stop"], check=False)


def checked_requests(signer_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{signer_port}/_stats", timeout=5) as r:
        return json.load(r)


def settle(source, client):
    """The same state before every run: the last run's file written back and its pages dropped
    (as root; otherwise only written back), then the source and the client's own program and
    libraries (it is started once, `--version`) read back into the page cache. Without it a run
    pays for the writeback and freeing of the previous client's 1 GiB and measures that."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass
    warm(source)
    subprocess.run([client, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_once(cmd, env, cwd, source, signer_port):
    """One run, after `settle`: wall, user, sys, peak RSS (MB) and the range requests the CDN
    checked for it."""
    settle(source, cmd[0])
    before = checked_requests(signer_port)
    # GNU time measures the client alone: a child of this script would report at least the
    # script's own peak RSS (the fork's), which hid aria2c's real figure.
    report = os.path.join(cwd, "time.out")
    start = time.monotonic()
    process = subprocess.Popen([TIME, "-f", "%U %S %M", "-o", report] + cmd, env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr_tail = process.stderr.read()[-2000:]
    process.wait()
    wall = time.monotonic() - start
    after = checked_requests(signer_port)
    if process.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({process.returncode}): {stderr_tail.decode(errors='replace')}")
    with open(report) as f:
        user, sys_, rss_kb = f.read().split()[-3:]
    return {
        "wall": wall,
        "user": float(user),
        "sys": float(sys_),
        "rss": int(rss_kb) / 1024,
        "requests": after["ok"] - before["ok"],
        "refused": after["refused"] - before["refused"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rate", default="25m", help="the cap of each connection on the capped CDN (default 25m = 25 MiB/s)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per client (median shown; at least 3)")
    parser.add_argument("--atelier-connections", default="auto,16",
                        help="comma-separated Atelier runs: 'auto' (its default) and/or connection counts")
    parser.add_argument("--no-aria2c-checksum", action="store_true", help="skip aria2c --checksum=sha-256")
    parser.add_argument("--modes", default="capped,uncapped")
    parser.add_argument("--compare-binary",
                        help="a second atelier binary run beside the first, same connection choices (for an A/B of a change)")
    args = parser.parse_args()
    if not shutil.which("aria2c"):
        raise SystemExit("needs aria2c: apt-get install -y aria2")
    if not os.access(TIME, os.X_OK):
        raise SystemExit("needs GNU time: apt-get install -y time")
    binary = os.path.abspath(args.binary)
    size = args.size_mib << 20
    gib = size / (1 << 30)

    work = tempfile.mkdtemp(prefix="atelier-pull-bench-", dir=os.environ.get("BENCH_DIR"))
    root = os.path.join(work, "www")
    os.makedirs(root)
    os.chmod(work, 0o755)  # nginx workers run unprivileged
    os.chmod(root, 0o755)
    print(f"making a {args.size_mib} MiB file…", file=sys.stderr)
    source = os.path.join(root, NAME)
    sha = make_file(source, size)
    os.chmod(source, 0o644)
    secret = os.urandom(16).hex()
    signer_port, capped_port, open_port = free_port(), free_port(), free_port()
    cap = ConnectionCap(capped_port, parse_rate(args.rate), work)
    children = [subprocess.Popen([sys.executable, os.path.join(HERE, "reference", "signed_cdn.py"),
                                  str(signer_port), secret, "/protected"])]
    wait_port(signer_port)
    stop_nginx = start_nginx(work, root, signer_port, capped_port, open_port)
    hubs = {}
    for mode, port in (("capped", capped_port), ("uncapped", open_port)):
        hub_port = free_port()
        # The CDN is `localhost`, the hub 127.0.0.1: two origins, as on the real Hub.
        children.append(subprocess.Popen([sys.executable, os.path.join(HERE, "reference", "fake_hf_endpoint.py"),
                                          str(hub_port), f"http://localhost:{port}", NAME, sha, str(size), secret]))
        wait_port(hub_port)
        hubs[mode] = f"http://127.0.0.1:{hub_port}"

    clients = []
    binaries = [("", binary)]
    if args.compare_binary:
        binaries.append((" [B]", os.path.abspath(args.compare_binary)))
    for suffix, path in binaries:
        for choice in [c.strip() for c in args.atelier_connections.split(",") if c.strip()]:
            label = ("atelier pull" if choice == "auto" else f"atelier pull --connections {choice}") + suffix
            extra = [] if choice == "auto" else ["--connections", choice]
            clients.append((label, path, extra, True))
    clients.append(("aria2c -x16 -s16 -k1M", "aria2c", [], False))
    if not args.no_aria2c_checksum:
        clients.append(("aria2c … --checksum=sha-256", "aria2c", [f"--checksum=sha-256={sha}"], True))

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    samples = {(mode, label): [] for mode in modes for (label, *_rest) in clients}
    try:
        if args.runs < 3:
            print(f"note: {args.runs} run(s) per client; the issue's figures are medians of at least 3", file=sys.stderr)
        for round_index in range(args.runs):
            for mode in modes:
                # Interleaved, and each round starts with a different client, so no client always
                # runs right after the same other one.
                shift = round_index % len(clients)
                for label, kind, extra, _ in clients[shift:] + clients[:shift]:
                    out = os.path.join(work, "out")
                    data = os.path.join(work, "data")
                    resolve = f"{hubs[mode]}/bench/model/resolve/main/{NAME}"
                    if kind != "aria2c":
                        cmd = [kind, "pull", f"hf:bench/model/{NAME}", "--to", out] + extra
                        env = dict(os.environ, HF_ENDPOINT=hubs[mode], ATELIER_ALLOW_PRIVATE_HOSTS="true",
                                   ATELIER_DATA_DIR=data, ATELIER_LOG_LEVEL="error")
                    else:
                        cmd = ["aria2c", "-x16", "-s16", "-k1M", "--console-log-level=error", "--summary-interval=0",
                               "--allow-overwrite=true", "-d", out, "-o", NAME] + extra + [resolve]
                        env = dict(os.environ)
                    if mode == "capped":
                        cap.install()
                    try:
                        sample = run_once(cmd, env, work, source, signer_port)
                    finally:
                        cap.remove()
                    got = os.path.join(out, NAME)
                    if sha_of(got) != sha:
                        raise SystemExit(f"{label} produced a wrong file")
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.rmtree(data, ignore_errors=True)
                    samples[(mode, label)].append(sample)
                    print(f"round {round_index + 1} {mode:8} {label:34} {sample['wall']:6.2f} s  "
                          f"user {sample['user']:.2f} sys {sample['sys']:.2f}  rss {sample['rss']:.0f} MB  "
                          f"{sample['requests']} requests", file=sys.stderr)
    finally:
        for child in children:
            child.terminate()
        stop_nginx()
        cap.close()
        shutil.rmtree(work, ignore_errors=True)

    def median(mode, label, key):
        return statistics.median(s[key] for s in samples[(mode, label)])

    mb = size / 1e6
    runs = len(next(iter(samples.values())))
    print(f"\n{args.size_mib} MiB from a signed-URL CDN on 127.0.0.1 (each request checked by an app, then nginx "
          f"sendfile via X-Accel-Redirect; hub resolve + 302 in front); capped = {args.rate} per TCP "
          f"connection (HTB on loopback); medians of {runs} interleaved runs; page cache warm")
    aria = "aria2c -x16 -s16 -k1M"
    for mode in modes:
        print(f"\n{mode}:")
        print(f"  {'client':36} {'wall s':>6} {'MB/s':>7} {'user s':>6} {'sys s':>6} {'CPU s/GiB':>9} "
              f"{'peak RSS MB':>11} {'requests':>8} {'verifies':>8} {'speed vs aria2c':>15}")
        a_wall = median(mode, aria, "wall")
        for label, _, _, verifies in clients:
            wall = median(mode, label, "wall")
            user, sys_ = median(mode, label, "user"), median(mode, label, "sys")
            print(f"  {label:36} {wall:6.2f} {mb / wall:7.1f} {user:6.2f} {sys_:6.2f} {(user + sys_) / gib:9.2f} "
                  f"{median(mode, label, 'rss'):11.0f} {median(mode, label, 'requests'):8.0f} "
                  f"{'yes' if verifies else 'no':>8} {a_wall / wall:14.2f}×")

    # The targets, for Atelier's default run.
    main_label = clients[0][0]
    print(f"\ntargets ({main_label}, verifying, against {aria}):")
    cap_bytes = parse_rate(args.rate)
    for mode in modes:
        ratio = median(mode, aria, "wall") / median(mode, main_label, "wall")
        want = 1.2 if mode == "capped" else 1.0
        print(f"  {mode}: {ratio:.2f}× aria2c (target ≥ {want}×) {'met' if ratio >= want else 'NOT met'}")
        if mode == "capped" and cap_bytes:
            share = (size / median(mode, main_label, "wall")) / (16 * cap_bytes)
            print(f"  capped: {share * 100:.0f}% of 16 × the cap (target ≥ 95%) {'met' if share >= 0.95 else 'NOT met'}")
        cpu_a = median(mode, main_label, "user") + median(mode, main_label, "sys")
        cpu_r = median(mode, aria, "user") + median(mode, aria, "sys")
        print(f"  {mode}: CPU {cpu_a / gib:.2f} s/GiB = {cpu_a / cpu_r:.2f}× aria2c's (target ≤ 1.5×) "
              f"{'met' if cpu_a <= 1.5 * cpu_r else 'NOT met'}")
    sixteen = next((label for label, kind, extra, _ in clients if kind == binary and extra == ["--connections", "16"]),
                   None)
    for mode in modes:
        label = sixteen or main_label
        rss = max(s["rss"] for s in samples[(mode, label)])
        print(f"  {mode}: peak RSS of {label}: {rss:.0f} MB at most (target ≤ 64 MB for 1 GiB at 16 connections) "
              f"{'met' if rss <= 64 else 'NOT met'}")


def parse_rate(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text) if text else None


if __name__ == "__main__":
    main()
