"""Harmony's own C code built for the host and held to the model: the OTA bootloader, and the service's cJSON.

* :mod:`.build` -- find the bootloader in a Harmony tree, compile it with the shim layer in ``c/`` into
  a cache folder (``otaloop native build``);
* :mod:`.compare` -- boot the Python model and a native build from the same flash states and report
  every divergence (``otaloop native compare``);
* :mod:`.cjson` -- build Harmony's ``cjson.c`` with a driver and parse the same documents with it and with
  the model's parser (``otaloop native cjson``).

Running a build on the virtual board is the device side's job
(:mod:`harness.native.bootloader_program`); this package never runs a board by itself except to collect
starting states for a comparison.
"""
