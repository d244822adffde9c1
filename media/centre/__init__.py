"""The centre's media: one upstream per lane fanned out to every viewer over WebRTC,
and the intercom between the lane and the agent who holds it."""
