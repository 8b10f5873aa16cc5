"""Tests of the local fleet: loopback instances fed by a real redis-server."""
