"""Real lane hardware: one folder per vendor family, behind one seam (``parts``).

A family's own payloads (XML, multipart, JSON, serial frames) never leave its folder:
its devices turn them into the lane's canonical events (``gates.lane.drivers``) and
carry out the canonical commands. The lane file (``lane_file``) names a lane's devices
and what each does; ``assembly`` builds the one ``LaneDriver`` the agent drives from them.
"""
