"""Parking stays: cars in and not yet out, and finding which one an exit belongs to.

``match`` ranks open stays against a plate read at an exit, allowing for the camera's
misreads. No I/O anywhere here.
"""
