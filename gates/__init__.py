"""The lane link: what a lane and the centre say to each other, and the words they share.

``gates`` itself holds what both ends speak (the protocol, its text rules, the shared
vocabulary, plate rules, redial backoff, the Chinese font pictures are drawn with);
``gates.centre`` is the centre's end (the hub of connected lanes, commands and their
outcomes) and ``gates.lane`` the lane agent that runs at the car park (its session,
journal, driver seam and the simulated lane). The two ends never import each other, and
nothing here imports ``media``.
"""
