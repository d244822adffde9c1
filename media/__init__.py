"""Live video and intercom. ``media`` itself holds what both ends share (the wire unit,
the media connection's messages, the drop rules of a queue); ``media.centre`` is the
centre's fan-out to browsers over WebRTC, and ``media.lane`` the lane's camera,
microphone and speaker and the connection that carries them, with ``runner.py``, which
assembles a whole lane agent for ``seat lane``. ``media`` builds on ``gates``, never the
reverse, and the two ends never import each other.
"""
