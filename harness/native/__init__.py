"""Native bootloaders: a Harmony OTA bootloader's own C code, built for the host and held to the model.

* :mod:`.build` -- find the bootloader in a Harmony tree, compile it with the shim layer in ``c/`` into
  a cache folder (``otaloop native build``);
* :mod:`.compare` -- boot the Python model and a native build from the same flash states and report
  every divergence (``otaloop native compare``).

Running a build on the virtual board is the device side's job
(:mod:`bootloader_model.bootloader.native`); this package never runs a board by itself except to collect
starting states for a comparison.
"""
