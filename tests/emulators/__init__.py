"""Lane devices on real sockets, speaking their vendors' documented wire protocols."""
