"""A virtual board served to the outside as a real one is wired: ``otaloop board`` and the benches use it.

The runner paces a :class:`~bootloader_model.board.VirtualBoard` against wall time and connects its UART
to a port the host opens (``uart_link``: a pty or a TCP port; ``usb_console``: a USB serial port that
exists only while the board has power). ``power_switch`` turns the board's power on and off from outside,
as a USB hub port or a relay does, and ``power_channel`` carries those switches over a Unix socket from
another process. Nothing here reads or parses the console: that is :mod:`harness.board_link.console` and
:mod:`harness.board_link.driver`, which drive real and served boards alike.
"""
