"""Text echo server: `python examples/echo.py start`, then `nc 127.0.0.1 9000`."""

from workerman.core import Timer, Worker

echo = Worker("text://0.0.0.0:9000", name="echo")


def on_message(connection, line):
    connection.send(line.upper())


def on_worker_start(worker):
    Timer.add(60, lambda: print(len(worker.connections), "clients connected"))


echo.on_message = on_message
echo.on_worker_start = on_worker_start

if __name__ == "__main__":
    Worker.run_all()
