"""The Harmony v3.9.1 OTA bootloader (``apps/ota_bootloader``), as a step machine over the board's flash.

* :mod:`.step_machine` -- :class:`Bootloader`: the main loop, one task step per pass;
* :mod:`.tasks` -- the task steps, CHECK_IMAGE to FACTORY_RESET;
* :mod:`.state` -- constants, task ids and the firmware's static variables of one run;
* :mod:`.result` -- :class:`BootResult`, what one run did, as values;
* :mod:`.program` -- :class:`~.program.BootProgram`, what the board runs between reset and the
  application, and :class:`~.program.ModelProgram`, this model as one (the host hands in others, a
  native build: :mod:`harness.native.bootloader_program`);
* :mod:`.provisioning` -- programming a blank board as MPLAB programs the unified hex.

It does not run the application: what happens after the jump is the board's business
(:mod:`bootloader_model.board`).
"""

from bootloader_model.bootloader.result import BootResult
from bootloader_model.bootloader.step_machine import Bootloader

__all__ = ["BootResult", "Bootloader"]
