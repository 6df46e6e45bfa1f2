"""Unified API Server: test, generate and benchmark ML models behind one authenticated gateway."""
