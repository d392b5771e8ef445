"""The OTA core (Harmony's ``ota.c.ftl``, ``OTA_Tasks``), the layer under the OTA service.

* :mod:`.tasks` -- :class:`~bootloader_model.service.core.tasks.OtaCore`: boot-time init and task dispatch;
* :mod:`.state` -- its task and result enums, ``OTA_PARAMS`` and the shared state;
* :mod:`.download` -- the download and verify tasks;
* :mod:`.status` -- the DB entry, image status, factory reset and erase tasks.

It does not decide when to update: the service above it does.
"""
