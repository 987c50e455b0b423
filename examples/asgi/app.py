"""The FastAPI app of main.py beside a plain WebSocket worker, under one master.

python app.py start        # http://127.0.0.1:8000 (2 processes), ws://127.0.0.1:8080
"""

from workerman.asgi import AsgiWorker
from workerman.core import Worker

api = AsgiWorker("main:app", "http://127.0.0.1:8000", count=2)
chat = Worker("websocket://127.0.0.1:8080", name="chat")
chat.on_message = lambda connection, message: [
    other.send(message) for other in chat.connections.values()
]

if __name__ == "__main__":
    Worker.run_all()
