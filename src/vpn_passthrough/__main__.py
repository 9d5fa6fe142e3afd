import os
import sys

from .cli import main

status = main()
# Nothing is left to clean up: skip the interpreter's teardown, which after a large
# apply frees its objects one by one. Output goes first.
try:
    sys.stdout.flush()
    sys.stderr.flush()
except OSError:         # e.g. `vpn-passthrough status | head -1`
    status = status or 1
os._exit(status)
