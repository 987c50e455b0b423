"""``python -m workerman.asgi main:app --listen http://0.0.0.0:8000 --count 4 start -d``."""

from ._cli import main

main()
