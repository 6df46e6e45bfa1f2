"""Loaded with ``-p`` before every installed pytest plugin: gevent patches the standard library
first, or a plugin that imports ssl or requests early leaves it unpatched and concurrency tests
run serially."""

from gevent import monkey

monkey.patch_all()
