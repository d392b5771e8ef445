"""Power-cut sweeps of the virtual board: cut at every flash operation, power up, name what happened.

* :mod:`.update` -- a whole v1 -> v2 update on the board, every flash operation cut;
* :mod:`.fault_ids` -- the stable text that names one cut and rebuilds it;
* :mod:`.verdicts` -- what the board does after a cut, as a verdict name;
* :mod:`.report` -- the outcome table of an update sweep;
* :mod:`.bootloader` -- sweeps of the bootloader alone (first-boot backup, programming, verify failure);
* :mod:`.external_flash` -- sweeps of file jobs on the external FAT volume;
* :mod:`.executor` -- where a sweep's ranges run: in this process, on worker processes, on a Dask cluster;
* :mod:`.progress` -- the progress bar a terminal sees during a long sweep;
* :mod:`.results` -- a sweep's cases as a value: JSON files that round-trip, merging shards;
* :mod:`.plot` -- every case's outcome against the operation index, as SVG or PNG;
* :mod:`.memo` -- judge each distinct flash state once: verdicts cached on the blocks a judgement read;
* :mod:`.double` -- a second cut at every operation of the recovery run after each first cut;
* :mod:`.findings` -- regenerates the full-size sweep section of ``docs/findings.md``;
* :mod:`.timed` -- cuts at a moment (N ms after a console pattern), as a real board takes them.

Sweeps only drive the model; they never talk to a real board.
"""
