"""Power cuts at a moment rather than at a flash operation: the only kind a real board can take.

* :mod:`.cut` -- cut power a chosen number of milliseconds after a console pattern, on any bench that can
  switch power (the device half, which finds the flash operation a moment hits on the virtual board, is
  :mod:`bootloader_model.board.moment_cut`);
* :mod:`.sweep` -- ``otaloop sweep timed``: a grid of such cuts over one update, judged like the
  operation-indexed update sweep.

The command line of the timed sweep is :mod:`harness.cli.sweep.timed`.
"""
