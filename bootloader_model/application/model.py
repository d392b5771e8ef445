"""Harmony's generated OTA application as a Python model: the board's default application.

A run prints ``APP: version <n>``, runs the OTA service (:mod:`bootloader_model.service.ota_service`) with
the MHC options of the image's app descriptor and the SYS_COMMAND console
(:mod:`bootloader_model.board.command_processor`) with the ``sysota`` and ``otactl`` groups, on the board's
clock. It ignores SWITCH1, as the generated application does. It does not decide whether an image is healthy
(the board does, from the descriptor).
"""

from __future__ import annotations

from collections.abc import Callable

from bootloader_model.application.program import AppContext
from bootloader_model.board.command_processor import CommandGroup, CommandProcessor
from bootloader_model.bootloader.program import MODEL
from bootloader_model.service.commands import handle_command
from bootloader_model.service.configuration import ServiceConfig
from bootloader_model.service.ota_service import OtaService
from bootloader_model.service.tick_runner import NetworkWait, run_until
from bootloader_model.storage.external_flash import ExternalFlash


class ModelRun:
    """One run of the model application: the OTA service and the console, until reset."""

    def __init__(self, context: AppContext) -> None:
        desc = context.descriptor
        self._patience = context.network_patience_s
        context.console(f"APP: version {desc.version}\r\n".encode())
        svc = OtaService(
            ServiceConfig.from_descriptor(desc),
            ExternalFlash(context.external),
            context.internal,
            context.clock,
            context.console,
            context.profile,
            network_up=context.network_up,
        )
        svc.client.loopback_only = context.loopback_only
        svc.client.blocked = context.blocked_hosts  # one list across boots, for the host to report
        self._service = svc
        self.network = NetworkWait()  # the OTA task's wait on its socket
        console = CommandProcessor(context.console, context.request_reset, max_length=desc.cmd_max_length)

        def command(argv: list[bytes]) -> None:
            handle_command(svc, [a.decode("latin-1") for a in argv])

        console.add_group(
            CommandGroup(
                b"sysota",
                b": Sys OTA commands",
                [
                    (b"sysota", command, b": SysOta commands processing"),
                    (b"sysotahelp", command, b": SysOta commands help "),
                ],
            )
        )
        console.add_group(CommandGroup(b"otactl", b": OTA control", [(b"otactl", command, b": OTA control messages")]))
        self.console = console

    @property
    def service(self) -> OtaService:
        return self._service

    @property
    def reset_requested(self) -> bool:
        return self._service.reset_requested

    @property
    def hung(self) -> bool:
        return self._service.hung

    def uart_rx(self, data: bytes) -> None:
        self.console.feed(data)

    def run(self, budget_s: float, *, speed: float, stop: Callable[[], bool], wall_limit_s: float | None) -> None:
        svc = self._service
        run_until(
            svc,
            lambda: stop() or svc.reset_requested,
            budget_s,
            speed=speed,
            wall_limit_s=wall_limit_s,
            network=self.network,
            patience_s=self._patience,
        )

    def stop(self) -> None:
        client = self._service.client
        if client.sock is not None:  # RAM is gone: so is the TCP connection
            client.sock.close()
            client.sock = None


class ModelApplication:
    """The Python model of Harmony's OTA application behind the
    :class:`~bootloader_model.application.program.ApplicationProgram` interface."""

    label = MODEL

    def start(self, context: AppContext) -> ModelRun:
        return ModelRun(context)
