"""Emulated lane hardware: each speaks its device's wire protocol over real sockets."""
