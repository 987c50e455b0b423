"""The web worker's code: edit it while the app runs, and the next request runs the edit."""

import os


def on_message(connection, request):
    connection.send(f"hello from process {os.getpid()}\n")
