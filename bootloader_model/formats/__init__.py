"""The bytes the firmware writes and reads: encode and decode functions with no I/O policy.

* :mod:`.boot_control` -- the 4 KiB boot control page the bootloader and the application share;
* :mod:`.image_database` -- ``image_database.csv``, read and written as Harmony's ``csv.c`` does;
* :mod:`.app_descriptor` -- the record inside an application image that says what the virtual CPU runs;
* :mod:`.app_image` -- synthetic application images and the factory variant of an OTA ``.bin``;
* :mod:`.cjson` -- the JSON parser Harmony bundles (cJSON), with its limits;
* :mod:`.manifest` -- the device-side reading of ``ota.json``;
* :mod:`.c_string` -- the firmware's C strings, held one character per byte.

These modules own no flash and run no firmware task; they are used by the bootloader, the service and the
host-side tooling alike.
"""
