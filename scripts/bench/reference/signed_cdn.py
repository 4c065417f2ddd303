"""The application half of a signed-URL CDN for scripts/bench/pull, as CloudFront, Cloudflare and
Hugging Face's CDN work: nginx hands every request (each range request included) to this app, which
checks the URL's `Expires` and `Signature` (HMAC-SHA256 of path and expiry with the CDN's key) and
answers 403, or 200 with `X-Accel-Redirect` so that nginx sends the bytes itself with sendfile.
It counts the requests it checked and answers the count at /_stats.
Usage: python3 signed_cdn.py PORT SECRET PROTECTED_PREFIX
"""
import hashlib
import hmac
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, SECRET, PREFIX = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
lock = threading.Lock()
checked = {"ok": 0, "refused": 0}


def signature(path, expires):
    # The same message fake_hf_endpoint.py signs.
    return hmac.new(SECRET, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_stats":
            with lock:
                body = f'{{"ok": {checked["ok"]}, "refused": {checked["refused"]}}}'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        query = parse_qs(url.query)
        expires = query.get("Expires", ["0"])[0]
        given = query.get("Signature", [""])[0]
        valid = expires.isdigit() and int(expires) > time.time() and hmac.compare_digest(given, signature(url.path, expires))
        with lock:
            checked["ok" if valid else "refused"] += 1
        if not valid:
            self._answer(403)
            return
        self._answer(200, [("X-Accel-Redirect", PREFIX + url.path)])

    do_HEAD = do_GET


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    server.serve_forever()
