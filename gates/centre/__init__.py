"""The centre's end of the lane link: each connection's state machine, the hub of
connected lanes, commands and their one outcome, and what the centre knows of a lane."""
