"""A real OpenAI-compatible LLM server on 127.0.0.1 with nothing downloaded but PyPI packages:
llama.cpp's `llama-server`, built from the source that the llama-cpp-python package (PyPI) ships,
running a tiny random model written by tiny_gguf.py. It tokenizes, samples, streams and counts
usage as it does for any model; the words make no sense. Used by `scripts/openai-sdk-check
--self-test --upstream llama` and runnable alone (scripts/llm/llama-upstream).

The first use builds llama-server (cmake and a C++ compiler: apt-get install -y cmake g++; a few
minutes on two cores) and writes the model, both into ~/.cache/atelier-bench/llama.cpp-VERSION.
"""
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))
from gateway_fixture import cache_dir, venv_python  # noqa: E402
from http_bench import free_port  # noqa: E402

VERSION = "0.3.36"  # llama-cpp-python, whose sdist carries llama.cpp under vendor/
MODEL_NAME = "tiny"


def home():
    return os.path.join(cache_dir(), f"llama.cpp-{VERSION}")


def server_binary():
    """llama-server, built once from the PyPI sdist's vendored llama.cpp."""
    binary = os.path.join(home(), "build", "bin", "llama-server")
    if os.access(binary, os.X_OK):
        return binary
    for tool in ("cmake", "c++"):
        if not shutil.which(tool):
            raise SystemExit(f"building llama-server needs {tool}: apt-get install -y cmake g++")
    os.makedirs(home(), exist_ok=True)
    print(f"building llama.cpp's llama-server from llama-cpp-python {VERSION} (once, a few minutes)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", f"llama-cpp-python=={VERSION}", "--no-deps", "--no-binary", ":all:",
                    "-d", home()], check=True, stdout=sys.stderr)
    archive = glob.glob(os.path.join(home(), "llama_cpp_python-*.tar.gz"))[0]
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(home(), filter="data")
        except TypeError:  # Python before 3.11.4 has no extraction filters
            tar.extractall(home())
    source = glob.glob(os.path.join(home(), "llama_cpp_python-*", "vendor", "llama.cpp"))[0]
    build = os.path.join(home(), "build")
    subprocess.run(["cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
                    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"], check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", build, "--target", "llama-server", "-j", str(os.cpu_count() or 2)], check=True, stdout=sys.stderr)
    return binary


def model_path():
    """The tiny model, written once with the `gguf` package in its own venv."""
    path = os.path.join(home(), "tiny-random-3.gguf")
    if not os.path.exists(path):
        os.makedirs(home(), exist_ok=True)
        python = venv_python("gguf-venv", "gguf", ["gguf"])
        subprocess.run([python, os.path.join(HERE, "tiny_gguf.py"), path + ".tmp"], check=True)
        os.replace(path + ".tmp", path)
    return path


def never_bytes():
    """`--logit-bias ID-inf` for each byte token of tiny_gguf.py's vocabulary (ids 3 to 258)."""
    return [arg for token in range(3, 3 + 256) for arg in ("--logit-bias", f"{token}-inf")]


class LlamaServer:
    """llama-server on a free port; `url()` is its OpenAI base (…/v1), the model id `tiny`.
    Answers stop at `max_tokens` (48 unless the request says), since a random model rarely ends."""

    def __init__(self, port=None, max_tokens=48):
        binary, model = server_binary(), model_path()
        self.port = port or free_port()
        self.log_path = os.path.join(home(), f"server-{self.port}.log")
        self.proc = subprocess.Popen(
            [binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port), "-c", "16384", "-np", "2", "-n", str(max_tokens),
             "--ignore-eos", "--chat-template", "chatml", "--alias", MODEL_NAME, "--threads", "1", *never_bytes()],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"llama-server did not start; see {self.log_path}")
            time.sleep(0.2)

    def url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
