"""The SQLite store: schema (as migrations) and one named function per SQL statement.

Imports nothing else of marsad's except the pure :mod:`arabic` text functions.
"""
