"""Power-cut sweeps of the virtual board: cut at every flash operation, power up, name what happened.

* :mod:`.update` -- a whole v1 -> v2 update on the board, every flash operation cut;
* :mod:`.fault_ids` -- the stable text that names one cut and rebuilds it;
* :mod:`.verdicts` -- what the board does after a cut, as a verdict name;
* :mod:`.report` -- the outcome table of an update sweep;
* :mod:`.bootloader` -- sweeps of the bootloader alone (first-boot backup, programming, verify failure);
* :mod:`.external_flash` -- sweeps of file jobs on the external FAT volume;
* :mod:`.executor` -- where a sweep's ranges run: in this process, on worker processes, on a Dask cluster;
* :mod:`.progress` -- the progress bar a terminal sees during a long sweep.

Sweeps only drive the model; they never talk to a real board.
"""
