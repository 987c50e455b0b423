"""A web front that queues work and consumers that do it, as separate workers.

    python examples/queue/app.py start
    curl -X POST 'http://127.0.0.1:8090/thumbnail?image=cat.png'   # 202 {"job": "..."}
    curl 'http://127.0.0.1:8090/sizes'                              # the queue's sizes
    python examples/queue/app.py status                             # consumers' figures
    python -m workerman.queue failed list thumbnails --prefix example

QUEUE_URL (default redis://127.0.0.1:6379/0) picks the broker, amqp:// works too;
QUEUE_PREFIX the key prefix, PORT the HTTP port, DONE_FILE where finished jobs are noted.
"""

import dataclasses
import json
import os

import anyio

from workerman.core import Worker
from workerman.core.http import Response
from workerman.queue import Job, Queue, QueueWorker

PORT = int(os.environ.get("PORT", "8090"))
DONE_FILE = os.environ.get("DONE_FILE", "thumbnails.done")

queue = Queue.from_url(
    os.environ.get("QUEUE_URL", "redis://127.0.0.1:6379/0"),
    prefix=os.environ.get("QUEUE_PREFIX", "example"),
)


def json_response(status: int, value: object) -> Response:
    return Response(status, {"Content-Type": "application/json"}, json.dumps(value))


async def on_message(connection, request):
    if request.path == "/thumbnail" and request.method == "POST":
        job_id = await queue.send("thumbnails", {"image": request.get("image", "")})
        connection.send(json_response(202, {"job": job_id}))
    elif request.path == "/sizes":
        sizes = await queue.sizes("thumbnails")
        connection.send(json_response(200, dataclasses.asdict(sizes)))
    else:
        connection.send(Response(404, body="not found"))


async def make_thumbnail(job: Job) -> None:
    if not job.data["image"]:
        raise ValueError("no image given")  # retried, then kept in the failed store
    await anyio.sleep(0.05)  # the work
    with open(DONE_FILE, "a") as done:
        done.write(f"{job.id} {job.data['image']}\n")


web = Worker(f"http://0.0.0.0:{PORT}", name="web", count=2)
web.on_message = on_message

thumbnails = QueueWorker(
    queue,
    {"thumbnails": make_thumbnail},
    concurrency=10,
    max_attempts=2,
    retry_delay=0.2,
    name="thumbnails",
    count=2,
)

if __name__ == "__main__":
    Worker.run_all()
