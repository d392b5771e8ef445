"""The host's link to one board, real or virtual: its serial port, its console and its power.

* :mod:`.transport` -- open a port by URL with pyserial (a device path, ``socket://``, ``rfc2217://``, a
  pty) and reopen it when a USB port comes back;
* :mod:`.console` -- expect with timeouts and death strings over that port, with a timestamped log;
* :mod:`.driver` -- :class:`~harness.board_link.driver.BoardDriver`: typed operations (``otactl`` and
  ``sysota`` commands) and parsed events over a console;
* :mod:`.power` -- switching a board's power: a protocol and a command-line backend.

Nothing here starts a board, serves images or runs a scenario: the benches in :mod:`harness.scenarios`
put a link together with an image server.
"""
