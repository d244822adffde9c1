"""Everything about talking to a lane: the lane-link protocol, the centre hub, the lane agent."""
