"""WebRTC media: lane video fan-out and the intercom bridge."""
