"""Harmony's own C code built for the host and held to the model: the OTA bootloader, and the service's cJSON.

* :mod:`.build` -- find the bootloader in a Harmony tree, compile it with the shim layer in ``c/`` into
  a cache folder (``otaloop native build``);
* :mod:`.build_record` -- ``build.json``: what a build recorded in its cache folder, read back;
* :mod:`.programs` -- ``--bootloader model|native:CACHE_DIR`` made into the program the board runs;
* :mod:`.bootloader_program` -- :class:`~.bootloader_program.NativeProgram`: a native build as the
  virtual board's bootloader, one helper process per boot;
* :mod:`.protocol` -- the host half of the helper's wire protocol (the codes are in ``c/otaloop_protocol.h``);
* :mod:`.compare` -- boot the Python model and a native build from the same flash states and report
  every divergence (``otaloop native compare``);
* :mod:`.cjson` -- build Harmony's ``cjson.c`` with a driver and parse the same documents with it and with
  the model's parser (``otaloop native cjson``).

The board runs a build through the device side's interface
(:class:`~bootloader_model.bootloader.program.BootProgram`); this package never runs a board by itself
except to collect starting states for a comparison.
"""
