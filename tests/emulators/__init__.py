"""Emulated lane hardware: each a real server or client speaking its device's wire
protocol over real sockets, with the device's timing and faults a test can inject."""
