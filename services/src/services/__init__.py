"""Shared library of the participation platform.

Only this package is shared between services; no ``*_svc`` package imports another.
"""
