"""The seeds' stack for the same work as Atelier's foundation routes, for scripts/bench/http.

FastAPI + uvicorn, PyJWT (HS256) and SQLite: GET /health runs `SELECT 1`; GET /admin/auth/me
verifies the bearer JWT and loads the user row, which is what Atelier does per request.
Run: ATELIER_REF_DB=/tmp/ref.sqlite ATELIER_REF_SECRET=... uvicorn fastapi_auth:app
"""
import os
import sqlite3

import jwt
from fastapi import FastAPI, Header, HTTPException

DB = os.environ["ATELIER_REF_DB"]
SECRET = os.environ["ATELIER_REF_SECRET"]
app = FastAPI()


def connect():
    conn = sqlite3.connect(DB)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def setup():
    conn = connect()
    conn.execute("CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, username TEXT, role TEXT, disabled INTEGER)")
    conn.execute("INSERT OR IGNORE INTO users VALUES ('usr_1', 'admin', 'admin', 0)")
    conn.commit()
    conn.close()


setup()


@app.get("/health")
def health():
    conn = connect()
    conn.execute("SELECT 1").fetchone()
    conn.close()
    return {"status": "healthy", "database": "connected"}


@app.get("/admin/auth/me")
def me(authorization: str = Header(default="")):
    if not authorization.startswith("Bearer "):
        raise HTTPException(401, "authentication required")
    try:
        claims = jwt.decode(authorization[7:], SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "access token is not valid")
    conn = connect()
    row = conn.execute("SELECT id, username, role, disabled FROM users WHERE id = ?", (claims["sub"],)).fetchone()
    conn.close()
    if row is None or row[3]:
        raise HTTPException(401, "account unavailable")
    return {"id": row[0], "username": row[1], "role": row[2]}


def token():
    import time
    return jwt.encode({"sub": "usr_1", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


if __name__ == "__main__":
    print(token())
