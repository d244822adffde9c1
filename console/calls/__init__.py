"""The call queue: drivers' calls from lanes, phones and the hotline, routed to agents.

``model`` holds the values, ``queue`` the rules, ``effects`` what the rules ask the
driver to do, ``board`` the supervisors' view. No I/O anywhere here.
"""
