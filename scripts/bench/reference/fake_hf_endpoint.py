"""A minimal Hugging Face Hub endpoint for scripts/bench/pull: answers HEAD/GET on
/{repo}/resolve/{rev}/{file} with a 302 to the CDN (nginx) URL and the headers huggingface_hub and
Atelier read (X-Repo-Commit, X-Linked-Etag = SHA-256, X-Linked-Size), and /api/models/{repo}.
With CDN_SECRET the redirect is a signed URL (`?Expires=…&Signature=…`, see signed_cdn.py), new at
every resolve, as the real Hub's CDN links are.
Usage: python3 fake_hf_endpoint.py PORT CDN_BASE_URL FILE_NAME SHA256 SIZE [CDN_SECRET]
"""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, CDN, NAME, SHA, SIZE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
CDN_SECRET = sys.argv[6].encode() if len(sys.argv) > 6 else None


def cdn_location():
    path = f"/{NAME}"
    if CDN_SECRET is None:
        return f"{CDN}{path}"
    expires = int(time.time()) + 3600
    signature = hmac.new(CDN_SECRET, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{CDN}{path}?Expires={expires}&Signature={signature}"
COMMIT = "607a30d783dfa663caf39e06633721c8d4cfcd7e"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _resolve(self, body):
        parts = self.path.split("?")[0].split("/")
        if "resolve" in parts and parts[-1] == NAME:
            self.send_response(302)
            self.send_header("Location", cdn_location())
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", f'"{SHA}"')
            self.send_header("X-Linked-Size", str(SIZE))
            self.send_header("ETag", f'"{SHA}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/api/models/"):
            data = json.dumps({"id": "bench/model", "sha": COMMIT, "siblings": [
                {"rfilename": NAME, "size": SIZE, "lfs": {"sha256": SHA, "size": SIZE, "pointerSize": 134}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
        else:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_HEAD(self):
        self._resolve(False)

    def do_GET(self):
        self._resolve(True)


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
