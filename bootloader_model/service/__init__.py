"""The application-side OTA system service (Harmony's SYS_OTA) and the OTA core under it.

* :mod:`.ota_service` -- :class:`OtaService`: ``SYS_OTA_Tasks``, control messages, events, the periodic timer;
* :mod:`.update_check` -- the manifest check (``SYS_OTA_Update_Check``);
* :mod:`.configuration` -- the MHC options and the names of the service's enums;
* :mod:`.commands` -- the console commands ``sysota``/``sysotahelp`` and ``otactl``;
* :mod:`.core` -- the OTA core (``OTA_Tasks``): download, verify, DB entry, boot control;
* :mod:`.http_client` -- Harmony's HTTP GET client and downloader, on real sockets;
* :mod:`.tick_runner` -- driving the service tick by tick, fast-forwarding idle stretches.

It does not boot anything: the board (:mod:`bootloader_model.board`) runs it as the application's task.
"""

from bootloader_model.service.ota_service import OtaService

__all__ = ["OtaService"]
