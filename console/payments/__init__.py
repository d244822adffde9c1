"""Payments of parking fees."""
