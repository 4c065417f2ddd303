"""Seed 001's stack as the benchmark's reference: FastAPI in front of Celery with a Redis broker
and result backend. `POST /api/v1/runpod/generate` and `/generate/batch` queue a Celery task and
answer with its id, as the seed documents; the task is a zero-delay mock (no GPU), like Atelier's
mock backend in the same benchmark. REDIS_URL names the Redis server."""
import os

from celery import Celery
from fastapi import FastAPI
from pydantic import BaseModel

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
celery_app = Celery("seed001", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, result_expires=3600)


@celery_app.task(name="generate_image")
def generate_image(params):
    return {"success": True, "image_url": "mock://image.png", "prompt": params["prompt"], "width": params["width"],
            "height": params["height"], "steps": params["steps"]}


class GenerateRequest(BaseModel):
    prompt: str
    width: int = 832
    height: int = 1216
    steps: int = 30


class BatchRequest(BaseModel):
    prompts: list[str]
    width: int = 832
    height: int = 1216
    steps: int = 30


app = FastAPI()


@app.post("/api/v1/runpod/generate")
def generate(request: GenerateRequest):
    task = generate_image.delay(request.model_dump())
    return {"task_id": task.id, "status": "pending",
            "message": "Image generation started. Use /status/{task_id} to check progress."}


@app.post("/api/v1/runpod/generate/batch")
def generate_batch(request: BatchRequest):
    ids = [generate_image.delay({"prompt": p, "width": request.width, "height": request.height, "steps": request.steps}).id
           for p in request.prompts]
    return {"task_ids": ids, "status": "pending", "count": len(ids)}


@app.get("/health")
def health():
    return {"status": "ok"}
