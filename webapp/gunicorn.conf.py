"""Gunicorn settings for production and for the bench (bench/run.py starts every server with
this file): `gunicorn --config webapp/gunicorn.conf.py "webapp:create_app()"`.

Kept here rather than at the top level on purpose: gunicorn reads ./gunicorn.conf.py by itself
when started from the project directory, which would change every gunicorn a test starts.

Measured in docs/performance.md ("Spreading load over gunicorn's workers"): with one listening
socket shared by every worker, a gthread worker accepts every keep-alive connection it can
(up to worker_connections), so one worker ended up holding all 12 of the bench's connections
while the other sat idle. With reuse_port each worker listens on a socket of its own
(SO_REUSEPORT) and the kernel hashes new connections across them, so every worker gets its
share even of long-lived keep-alive connections (nginx's upstream keepalive pool).

Command-line options override this file (the tests pass --workers, --bind). docs/operations.md
("Gunicorn") says what each process needs.
"""
import gc
import multiprocessing
import os

# WEB_CONCURRENCY: worker processes (default: one per core). GUNICORN_BIND: where to listen
# (nginx's upstream points here).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
# gthread: a request waiting on WeChat (up to WECHAT_TIMEOUT_SECONDS) holds one thread, not the
# whole worker; four threads stay within the database pool (pool_size 5 + max_overflow 5).
worker_class = "gthread"
threads = 4
# One listening socket per worker: the kernel spreads connections over every worker.
reuse_port = True
# An idle keep-alive connection is closed after this long (nginx's upstream keepalive_timeout
# should be shorter, so that nginx never reuses a connection gunicorn is closing).
keepalive = 5
# No max_requests: a recycled worker's own socket closes with it, dropping the connections
# still waiting in its accept queue (photo memory is handed back by malloc_trim instead).
timeout = 60
graceful_timeout = 30
# Load the app before forking: workers share its code pages, and the bench's scan server fills
# its cache once. create_app opens no connection, so nothing is shared across the fork.
preload_app = True


def when_ready(server):
    """In the master, once the app is loaded and before the first fork: the objects it holds
    (about 200,000: modules, classes, mappers, schemas) are moved to the garbage collector's
    permanent generation, as Python's gc.freeze documentation advises for a server that forks
    without exec. A worker's full collection then walks its own objects only, instead of
    writing into the header of every object it inherited, which copied the master's pages into
    each worker. Measured in docs/performance.md ("The collector and the preloaded app")."""
    gc.freeze()
