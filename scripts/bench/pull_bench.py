"""scripts/bench/pull: pull one 1 GiB model file from a local range-capable server (nginx), once
with every connection capped at 25 MiB/s (as CDNs do) and once uncapped, with `atelier pull`,
`aria2c -x16 -s16 -k1M` and huggingface_hub's `hf_hub_download` (HF_ENDPOINT at a local fake
Hub that redirects to nginx, as the real one redirects to its CDN). Prints wall time, MB/s, CPU
seconds and Atelier's ratio to each, plus `sha256sum` on the same file. Traffic stays on 127.0.0.1.
"""
import argparse
import hashlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "model.safetensors"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_file(path, size):
    header = b'{"__metadata__":{"format":"pt"}}'
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        remaining = size - 8 - len(header)
        block = os.urandom(16 << 20)
        while remaining > 0:
            n = min(len(block), remaining)
            f.write(block[:n])
            remaining -= n
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def start_nginx(work, root, capped_port, open_port, rate):
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(textwrap.dedent(f"""
            worker_processes 2;
            pid {work}/nginx.pid;
            error_log {work}/nginx-error.log;
            events {{ worker_connections 1024; }}
            http {{
              access_log off;
              sendfile on;
              tcp_nopush on;
              client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fastcgi;
              uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
              types {{ application/octet-stream safetensors; }}
              server {{ listen 127.0.0.1:{capped_port}; root {root}; limit_rate {rate}; }}
              server {{ listen 127.0.0.1:{open_port}; root {root}; }}
            }}
            """))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-c", conf, "-p", work], check=True)
    return lambda: subprocess.run([nginx, "-c", conf, "-p", work, "-s", "stop"], check=False)


def timed(cmd, env=None, cwd=None, cleanup=None, runs=1):
    """Median wall time (and its CPU time) of `runs` runs; `cleanup` runs after each."""
    samples = []
    for _ in range(runs):
        samples.append(timed_once(cmd, env, cwd))
        if cleanup:
            cleanup()
    samples.sort()
    return samples[len(samples) // 2]


def timed_once(cmd, env=None, cwd=None):
    # Each client starts with no dirty pages left by the one before (or by making the file).
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return wall, cpu


def sha_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rate", default="25m", help="nginx limit_rate per connection for the capped run")
    parser.add_argument("--connections", type=int, default=16, help="Atelier's connections (aria2c gets -x16 -s16)")
    parser.add_argument("--runs", type=int, default=3, help="runs per client; the median is shown")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    size = args.size_mib << 20

    work = tempfile.mkdtemp(prefix="atelier-pull-bench-", dir=os.environ.get("BENCH_DIR"))
    root = os.path.join(work, "www")
    os.makedirs(root)
    # nginx workers run as an unprivileged user: let them read the file.
    os.chmod(work, 0o755)
    os.chmod(root, 0o755)
    print(f"making a {args.size_mib} MiB file…", file=sys.stderr)
    sha = make_file(os.path.join(root, NAME), size)
    os.chmod(os.path.join(root, NAME), 0o644)
    capped_port, open_port = free_port(), free_port()
    stop_nginx = start_nginx(work, root, capped_port, open_port, args.rate)
    hubs = []
    results = {}
    try:
        for label, port in (("capped", capped_port), ("uncapped", open_port)):
            cdn = f"http://localhost:{port}"
            hub_port = free_port()
            hub = subprocess.Popen([sys.executable, os.path.join(HERE, "reference", "fake_hf_endpoint.py"), str(hub_port), cdn,
                                    NAME, sha, str(size)])
            hubs.append(hub)
            time.sleep(0.5)
            endpoint = f"http://127.0.0.1:{hub_port}"
            row = {}

            out = os.path.join(work, f"atelier-{label}")
            env = dict(os.environ, HF_ENDPOINT=endpoint, ATELIER_ALLOW_PRIVATE_HOSTS="true",
                       ATELIER_DATA_DIR=os.path.join(work, f"data-{label}"), ATELIER_LOG_LEVEL="error")
            def check_and_clean():
                assert sha_of(os.path.join(out, NAME)) == sha, "atelier produced a wrong file"
                shutil.rmtree(out)
                shutil.rmtree(os.path.join(work, f"data-{label}"))
            wall, cpu = timed([binary, "pull", f"hf:bench/model/{NAME}", "--to", out, "--connections", str(args.connections)],
                              env=env, cwd=work, cleanup=check_and_clean, runs=args.runs)
            row["atelier"] = (wall, cpu, True)

            if shutil.which("aria2c"):
                out = os.path.join(work, f"aria2-{label}")
                wall, cpu = timed(["aria2c", "-x16", "-s16", "-k1M", "--file-allocation=none", "--console-log-level=error",
                                   "--summary-interval=0", "-d", out, "-o", NAME, f"{cdn}/{NAME}"],
                                  cleanup=lambda o=out: shutil.rmtree(o), runs=args.runs)
                row["aria2c -x16 -s16"] = (wall, cpu, False)
                out = os.path.join(work, f"aria2s-{label}")
                wall, cpu = timed(["aria2c", "-x16", "-s16", "-k1M", "--file-allocation=none", "--console-log-level=error",
                                   "--summary-interval=0", f"--checksum=sha-256={sha}", "-d", out, "-o", NAME, f"{cdn}/{NAME}"],
                                  cleanup=lambda o=out: shutil.rmtree(o), runs=args.runs)
                row["aria2c … --checksum=sha-256"] = (wall, cpu, True)

            try:
                import huggingface_hub  # noqa: F401
                cache = os.path.join(work, f"hf-{label}")
                code = ("import sys; from huggingface_hub import hf_hub_download; "
                        f"hf_hub_download('bench/model', '{NAME}', cache_dir=sys.argv[1])")
                hf_env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_HUB_ENABLE_HF_TRANSFER="0",
                              HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1")
                wall, cpu = timed([sys.executable, "-c", code, cache], env=hf_env,
                                  cleanup=lambda c=cache: shutil.rmtree(c), runs=args.runs)
                row["huggingface_hub hf_hub_download"] = (wall, cpu, False)
            except ImportError:
                print("huggingface_hub not installed (pip install huggingface_hub); skipped", file=sys.stderr)
            results[label] = row
            hub.terminate()

        wall, cpu = timed(["sha256sum", os.path.join(root, NAME)], runs=args.runs)
        results["sha256sum"] = (wall, cpu)
    finally:
        for hub in hubs:
            if hub.poll() is None:
                hub.terminate()
        stop_nginx()
        shutil.rmtree(work, ignore_errors=True)

    mb = size / 1e6
    print(f"\n{args.size_mib} MiB file from nginx on 127.0.0.1; capped = limit_rate {args.rate} per connection; "
          f"Atelier with {args.connections} connections; median of {args.runs} runs each")
    for label in ("capped", "uncapped"):
        row = results[label]
        a_wall = row["atelier"][0]
        print(f"\n{label}:")
        print(f"  {'client':34} {'wall s':>7} {'MB/s':>8} {'CPU s':>7} {'verifies':>9} {'Atelier speed ×':>16}")
        for name, (wall, cpu, verifies) in row.items():
            ratio = "—" if name == "atelier" else f"{wall / a_wall:.2f}×"
            print(f"  {name:34} {wall:7.2f} {mb / wall:8.1f} {cpu:7.2f} {'yes' if verifies else 'no':>9} {ratio:>16}")
    s_wall, s_cpu = results["sha256sum"]
    a_open = results["uncapped"]["atelier"][0]
    print(f"\nsha256sum on the same file: {s_wall:.2f} s = {mb / s_wall:.1f} MB/s (CPU {s_cpu:.2f} s); "
          f"Atelier uncapped (download + verify) = {(s_wall / a_open) * 100:.0f}% of sha256sum's speed")


if __name__ == "__main__":
    main()
