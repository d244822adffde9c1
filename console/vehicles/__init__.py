"""Vehicle events as the centre keeps them: every camera read a lane sends, its snapshot
in a file, the stay it opens or closes, and the HTTP API that reads them back.

``repeats`` (which reads are the same car again) is pure; ``snapshots`` holds the files,
``recorder`` feeds the store from the lane link, ``api`` serves the records.
"""
